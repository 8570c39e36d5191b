"""A tenant's admins end their own environment, and erase a data subject.

Both are admin-only root fields (``resolvers.authz.policy.ADMIN_FIELDS``) and audited by
storage: the termination in the tenant's log and its control record's history, the
erasure as deletions, a redaction and an ``erase`` entry that names records, not the
person. Operators do everything else with the CLI (``enclave tenants ...``).

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import strawberry
from strawberry.types import Info

from resolvers.authz.guards import admin_context
from resolvers.values import email_address
from schema.errors import BadUserInputError
from schema.lifecycle import ErasedRecords, Erasure, Termination

__all__ = ["LifecycleMutation"]


@strawberry.type
class LifecycleMutation:
    @strawberry.mutation(
        description="End this tenant's environment: access stops at once, data is kept for "
        "the retention period (the platform operator can restore it until then), then the "
        "data and its key are destroyed. `confirmTenantId` must be this tenant's id."
    )
    async def request_termination(self, info: Info, confirm_tenant_id: str) -> Termination:
        ctx = admin_context(info, "may do this")
        if confirm_tenant_id != ctx.principal.tenant_id:
            raise BadUserInputError(
                "confirmTenantId is not this tenant's id", field="confirmTenantId"
            )
        tenant = await ctx.store.termination.request(ctx.actor)
        await ctx.policies.changed(tenant.id)  # every gateway stops letting it in at once
        return Termination(
            tenant_id=strawberry.ID(tenant.id),
            status=tenant.status,
            terminated_at=tenant.terminated_at,
            purge_due_at=tenant.purge_due_at,
        )

    @strawberry.mutation(
        description="Erase a data subject: delete every record with this email in any "
        "email field of any datasheet, and redact the values of their audit entries."
    )
    async def erase_data_subject(self, info: Info, email: str) -> Erasure:
        ctx = admin_context(info, "may do this")
        address = email_address(email)
        report = await ctx.store.erasure.erase(address, ctx.actor)
        records = [
            ErasedRecords(datasheet=sheet, ids=[strawberry.ID(i) for i in ids], count=len(ids))
            for sheet, ids in report.records.items()
        ]
        return Erasure(
            records=records,
            total=sum(r.count for r in records),
            audit_entries_redacted=report.audit_entries_redacted,
            audit_entry=report.audit_entry,
        )
