"""The tenant's detection thresholds over GraphQL: read and set by admins (ADMIN_FIELDS),
validated, and audited by the store's write path.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import dataclasses

import strawberry
from strawberry.types import Info

from resolvers.authz.guards import admin_context
from schema.detection import DetectionThresholdsInput, DetectionThresholdsType
from schema.errors import BadUserInputError
from storage.incidentvalues import DetectionThresholds

__all__ = ["BOUNDS", "DetectionMutation", "DetectionQuery"]

#: The values each threshold may take (per hour; ``baseline_hours`` up to a week).
BOUNDS = {
    "read_records": (1, 10_000_000),
    "read_factor": (1, 1_000),
    "baseline_hours": (1, 168),
    "export_records": (1, 100_000_000),
    "refused_requests": (1, 1_000_000),
    "failed_signin_accounts": (1, 1_000_000),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _type(thresholds: DetectionThresholds) -> DetectionThresholdsType:
    return DetectionThresholdsType(**dataclasses.asdict(thresholds))


@strawberry.type
class DetectionQuery:
    @strawberry.field(description="The tenant's detection thresholds (admins).")
    async def detection_thresholds(self, info: Info) -> DetectionThresholdsType:
        ctx = admin_context(info, "read the detection thresholds")
        return _type(await ctx.store.detection.thresholds())


@strawberry.type
class DetectionMutation:
    @strawberry.mutation(description="Change the tenant's detection thresholds (admins; audited).")
    async def set_detection_thresholds(
        self, info: Info, input: DetectionThresholdsInput
    ) -> DetectionThresholdsType:
        ctx = admin_context(info, "set the detection thresholds")
        changes: dict[str, int] = {}
        for name, (low, high) in BOUNDS.items():
            value = getattr(input, name)
            if value is None:
                continue
            if not low <= value <= high:
                raise BadUserInputError(
                    f"{_camel(name)} is between {low} and {high}", field=f"input.{_camel(name)}"
                )
            changes[name] = value
        current = await ctx.store.detection.thresholds()
        chosen = dataclasses.replace(current, **changes)
        if chosen != current:
            await ctx.store.detection.set_thresholds(chosen, ctx.actor)
        return _type(chosen)
