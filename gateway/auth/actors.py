"""Who did it, as the audit log records it: the :class:`~storage.values.Actor` of a request."""

from __future__ import annotations

from typing import Literal

from starlette.requests import HTTPConnection

from storage.values import Actor

__all__ = ["actor_for"]


def actor_for(
    request: HTTPConnection,
    user_id: str,
    kind: Literal["user", "api_key"] = "user",
    roles: tuple[str, ...] = (),
    request_id: str | None = None,
    session: str | None = None,
) -> Actor:
    """The actor of a request, as the audit log records it: who, with which roles, from
    which client address and user agent, in which request and sign-in session."""
    return Actor(
        user_id=user_id,
        roles=roles,
        kind=kind,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=request_id,
        session=session,
    )
