"""What the steps of the ``/graphql`` pipeline share: the scope keys they fill, and
:class:`Check`, a step that refuses a request or passes it on.

Each step reads what an outer step put in the ASGI scope (the order is in
:func:`gateway.app.graphql_route`):

- ``enclave.request_id`` (:class:`~gateway.middleware.requestid.RequestId`);
- ``enclave.body`` (:class:`~gateway.middleware.bodylimit.BodyLimit`): the body, read once and
  bounded; :class:`~gateway.middleware.persisted.PersistedQueries` puts in the document a hash
  stands for. Inner steps read it here, never from ``receive`` (see :func:`replaying`);
- ``enclave.principal`` (:class:`~gateway.middleware.authentication.Authentication`);
- ``enclave.policy`` (:class:`~gateway.middleware.policy.CallerPolicy`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.refusals import error_response
from resolvers.authz.policy import Policy
from resolvers.context import Principal
from schema.errors import EnclaveError

__all__ = ["BODY", "POLICY", "PRINCIPAL", "REQUEST_ID", "Check", "ScopeKey", "replaying"]

T = TypeVar("T")


class ScopeKey(Generic[T]):
    """A value one step puts in the ASGI scope for the steps inside it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def put(self, scope: Scope, value: T) -> None:
        scope[self.name] = value

    def of(self, scope: Scope) -> T:
        """The value (an outer step put it there: a missing one is a bug)."""
        value: T = scope[self.name]
        return value

    def get(self, scope: Scope) -> T | None:
        """The value, or None before the step that puts it has run."""
        value: T | None = scope.get(self.name)
        return value


REQUEST_ID = ScopeKey[str]("enclave.request_id")
BODY = ScopeKey[bytes]("enclave.body")
PRINCIPAL = ScopeKey[Principal]("enclave.principal")
POLICY = ScopeKey[Policy]("enclave.policy")


def replaying(body: bytes, receive: Receive) -> Receive:
    """*receive* giving *body* first: the body was read already (to bound and check it)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class Check(ABC):
    """A step that checks the request (and may add to the scope), then passes it on; a
    refusal (an :class:`~schema.errors.EnclaveError`) is answered as a GraphQL error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.check(scope, receive)
        except EnclaveError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @abstractmethod
    async def check(self, scope: Scope, receive: Receive) -> None:
        """Raise an ``EnclaveError`` to refuse the request."""
