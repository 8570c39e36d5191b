"""Pure ASGI middleware, one concern per module. The order they run in is in one place,
:mod:`gateway.app`; what they share (the scope keys, the ``Check`` step) in
:mod:`~gateway.middleware.base`.

- :mod:`~gateway.middleware.securityheaders`: the security headers, around the whole app;
- :mod:`~gateway.middleware.requestid`, :mod:`~gateway.middleware.telemetry`: the request's id,
  metrics and log line;
- :mod:`~gateway.middleware.graphiql`: to the IDE page, in the console;
- :mod:`~gateway.middleware.bodylimit`: the body, read once and bounded;
- :mod:`~gateway.middleware.authentication`: the caller's ``Principal``;
- :mod:`~gateway.middleware.ratelimit`: rate limits;
- :mod:`~gateway.middleware.policy`: the caller's policy, the login record;
- :mod:`~gateway.middleware.persisted`: persisted operations and the allow-list;
- :mod:`~gateway.middleware.graphqlrequest`: a GraphQL request, as JSON in a POST;
- :mod:`~gateway.middleware.idempotency`: ``Idempotency-Key`` on mutations.
"""
