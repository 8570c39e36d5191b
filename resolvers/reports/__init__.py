"""Reports: aggregates over a datasheet that never single out a person.

``plan`` checks a definition against the datasheet and the caller's policy, ``rules``
suppresses what could single someone out, ``run`` ties them to storage and the access
log, ``fields`` is the GraphQL surface, ``download`` serves a report's one-time CSV link.
"""
