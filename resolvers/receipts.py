"""Audit receipts in the answer: ``extensions.audit`` lists, for every audit entry the
request wrote, its sequence number and MAC signed with the gateway's seal key
(:class:`storage.auditmac.SignedHead`, kind ``receipt``). A client keeps them and can later
pass them to ``auditVerify(heads:)``: an entry dropped or changed in the database since is
then named, even if every checkpoint after it was dropped too.
"""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from resolvers.context import RequestContext

__all__ = ["AuditReceipts"]


class AuditReceipts(SchemaExtension):
    def get_results(self) -> dict[str, Any]:
        ec = self.execution_context
        context = ec.context
        if not isinstance(context, RequestContext):
            return {}
        try:
            if ec.operation_type is not OperationType.MUTATION:
                return {}
        except RuntimeError:  # no document, or no such operation: nothing ran
            return {}
        try:
            key = context.seal_key()
        except (ValueError, OSError):
            return {}  # no seal key configured (entries are still authenticated)
        receipts = context.store.seals.receipts(key)
        return {"audit": [r.to_json() for r in receipts]} if receipts else {}
