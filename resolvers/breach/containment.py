"""Containing a breach in one step: for each compromised principal, block it (every token
issued until now is refused, an identity provider's and a sessionless one included, and its
export downloads under way stop: :mod:`storage.contract.blocks`), end its sessions, revoke
its API key and its unused export links, require a new password; then announce it on the
policy channel so every gateway process drops what it cached for the tenant at once.

Each action is time-stamped in the incident's containment log (the incident's change is
audited with the log), and the actions themselves are audited by their stores (a key's
revocation, a password cleared, an export link revoked).
"""

from __future__ import annotations

import datetime as dt

from resolvers.context import RequestContext
from schema.errors import NotFoundError
from storage.incidentvalues import Compromised, ContainmentAction, Incident

__all__ = ["contain"]


def _now() -> dt.datetime:
    at = dt.datetime.now(dt.UTC)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


class _Log:
    def __init__(self) -> None:
        self.actions: list[ContainmentAction] = []

    def __call__(self, action: str, target: str, outcome: str) -> None:
        self.actions.append(ContainmentAction(_now(), action, target, outcome))


async def _user(ctx: RequestContext, user_id: str, log: _Log) -> None:
    store, target = ctx.store, f"user:{user_id}"
    sessions = await store.sessions.of_user(user_id)
    await store.sessions.close_all(user_id)
    log("end_sessions", target, f"{len(sessions)} open sessions ended")
    try:
        await store.credentials.clear_password(user_id, ctx.actor)
        log("require_new_password", target, "password removed; a new one must be set")
    except NotFoundError:
        log("require_new_password", target, "no such user")


async def _api_key(ctx: RequestContext, key_id: str, log: _Log) -> None:
    target = f"api_key:{key_id}"
    try:
        await ctx.store.api_keys.revoke(key_id, ctx.actor)
        log("revoke_api_key", target, "revoked")
    except NotFoundError:
        log("revoke_api_key", target, "no such key")


async def _one(ctx: RequestContext, compromised: Compromised, log: _Log) -> None:
    named = compromised.id
    if compromised.kind == "platform" or named is None:
        log("none", "platform", "no principal named: operators rotate keys and secrets")
    elif compromised.kind in ("user", "api_key"):
        await (_user if compromised.kind == "user" else _api_key)(ctx, named, log)
        # The links a principal started but did not use yet: whoever holds it may.
        revoked = await ctx.store.exports.revoke_unused([named], [], ctx.actor)
        log("revoke_export_links", f"{compromised.kind}:{named}", f"{len(revoked)} revoked")
    elif compromised.kind == "session":
        await ctx.store.sessions.close(named)
        log("end_session", f"session:{named}", "ended")
        # The links started in the session: its holder has them (the user is not contained).
        revoked = await ctx.store.exports.revoke_unused([], [], ctx.actor, sessions=[named])
        log("revoke_export_links", f"session:{named}", f"{len(revoked)} revoked")
    else:
        revoked = await ctx.store.exports.revoke_unused([], [named], ctx.actor)
        log("revoke_export_link", f"export_link:{named}", "revoked" if revoked else "not unused")


async def _block(ctx: RequestContext, incident: Incident, log: _Log) -> None:
    named = [
        f"{c.kind}:{c.id}" for c in incident.compromised if c.kind in ("user", "api_key") and c.id
    ]
    if named:
        at = _now()
        await ctx.store.blocks.block(named, at, incident.id, ctx.actor)
        await ctx.policies.keep_blocks(ctx.principal.tenant_id, named, at)
    for principal in named:
        log("block_principal", principal, "every credential issued until now refused")


async def contain(ctx: RequestContext, incident: Incident) -> Incident:
    """Contain *incident*'s compromised principals; the incident with its log extended."""
    log = _Log()
    await _block(ctx, incident, log)
    for compromised in incident.compromised:
        await _one(ctx, compromised, log)
    await ctx.policies.changed(ctx.principal.tenant_id)
    log("announce", "gateways", "every gateway process dropped the tenant's cached policy")
    return await ctx.store.incidents.add_containment(incident.id, log.actions, ctx.actor)
