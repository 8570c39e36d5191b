"""``auditVerify``: an admin checks the tenant's audit log (storage.mongo.seals), against
the signed heads gateways keep outside the database and any heads or receipts given.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import strawberry
from strawberry.types import Info

from resolvers.authz.guards import admin_context
from schema.audit import AuditHeadInput, AuditVerification
from storage.auditmac import SignedHead

__all__ = ["AuditVerifyQuery"]


def _signed(h: AuditHeadInput) -> SignedHead:
    if h.mac is not None:
        return SignedHead(h.database, h.seq, h.mac, h.key_id, h.signature, "receipt")
    return SignedHead(h.database, h.seq, h.head or "", h.key_id, h.signature)


@strawberry.type
class AuditVerifyQuery:
    @strawberry.field(
        description="Check every audit entry's MAC, the chain against its signed checkpoints, "
        "and the log against signed heads and receipts kept outside the database (the "
        "gateways' own and any given); names the first entry that does not match."
    )
    async def audit_verify(
        self,
        info: Info,
        heads: list[AuditHeadInput] | None = None,
    ) -> AuditVerification:
        ctx = admin_context(info, "verify the audit log")
        known = await ctx.known_heads(ctx.principal.tenant_id) if ctx.known_heads else []
        given = [_signed(h) for h in heads or ()]
        report = await ctx.store.seals.verify(ctx.seal_key(), [*known, *given])
        return AuditVerification(
            ok=report.ok,
            entries=report.entries,
            sealed_through=report.sealed_through,
            unsealed=report.unsealed,
            first_bad_sequence=report.first_bad,
            reason=report.reason,
        )
