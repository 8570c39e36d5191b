"""Where permissions are checked: every module of field authorisation is here.

- ``policy``: a caller's roles compiled into one ``Policy``; ``Policy.allows`` is the one rule
  for which fields of the schema a caller may use.
- ``policycache``: compiled policies per process, kept current across gateways (Redis).
- ``document``: the document walk that refuses a forbidden field before execution, and the
  Strawberry extension that runs it (cached in ``cache``).
- ``scopes``: which rows each field may be read or written on (roles combine per field).
- ``masking``: the masked form of a value a role may see only in part.
- ``introspection``: introspection shows each caller only what their policy allows.
- ``guards``: the checks resolvers repeat at run time (admin only, a grant on the datasheet).
"""
