"""The ASGI endpoints behind the routes of :mod:`gateway.app`.

- :mod:`~gateway.endpoints.graphql`: ``/graphql`` for an authenticated caller (Strawberry, with
  :mod:`~gateway.endpoints.compiled`, the compiled read path, in front);
- :mod:`~gateway.endpoints.public`: ``/graphql`` without credentials (sign-in only);
- :mod:`~gateway.endpoints.exports`: export downloads;
- :mod:`~gateway.endpoints.health`: ``/healthz`` and ``/readyz``;
- :mod:`~gateway.endpoints.metrics`: ``/metrics``;
- :mod:`~gateway.endpoints.console`: ``/console``, the admins' single-page app.
"""
