"""Who is calling: credentials checked and turned into a ``Principal``.

- :mod:`~gateway.auth.authenticator`: a request's credentials (API key or bearer token) to a
  principal, the one entry point of the authentication middleware;
- :mod:`~gateway.auth.tokens`: the gateway's own tokens; :mod:`~gateway.auth.jwks`: an external
  identity provider's; :mod:`~gateway.auth.apikeys`: integrators' API keys;
- :mod:`~gateway.auth.tenants`: whether the caller's tenant is active;
- :mod:`~gateway.auth.actors`: the audit log's actor of a request;
- :mod:`~gateway.auth.signin`: the built-in sign-in (passwords, second factor, sessions),
  hashing in threads with :mod:`~gateway.auth.passwords`;
- :mod:`~gateway.auth.sessioncookie`: a browser's refresh token in an HttpOnly cookie (cookie
  mode of the sign-in operations, for the console).
"""
