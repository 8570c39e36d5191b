"""GraphQL types of the detection thresholds (gateway.detection), per tenant and per hour.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import strawberry

__all__ = ["DetectionThresholdsInput", "DetectionThresholdsType"]


@strawberry.type(
    name="DetectionThresholds",
    description="When the detection rules open a suspected incident, per hour: above "
    "max(readRecords, readFactor x the principal's mean over the baselineHours before) "
    "distinct records read; above exportRecords records exported; above refusedRequests "
    "requests refused (FORBIDDEN, NOT_FOUND) of one principal; above failedSigninAccounts "
    "accounts of the tenant with failed sign-ins.",
)
class DetectionThresholdsType:
    read_records: int
    read_factor: int
    baseline_hours: int
    export_records: int
    refused_requests: int
    failed_signin_accounts: int


@strawberry.input(description="New thresholds; a field left out keeps its current value.")
class DetectionThresholdsInput:
    read_records: int | None = None
    read_factor: int | None = None
    baseline_hours: int | None = None
    export_records: int | None = None
    refused_requests: int | None = None
    failed_signin_accounts: int | None = None
