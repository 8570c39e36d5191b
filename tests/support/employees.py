"""Shared GraphQL documents and record factories for the tests."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from gateway.services import Services
from regions.countries import RegionName
from schema.errors import RegionUnavailableError
from tests.support.client import GraphQLClient

EMPLOYEE_FIELDS = (
    "id version archived firstName lastName workEmail personalEmail phone dateOfBirth "
    "nationalId address jobTitle department salary startDate status"
)

CREATE_EMPLOYEE = f"""
mutation($input: EmployeeCreateInput!) {{ createEmployee(input: $input) {{ {EMPLOYEE_FIELDS} }} }}
"""

UPDATE_EMPLOYEE = f"""
mutation($id: ID!, $v: Int!, $input: EmployeeUpdateInput!) {{
  updateEmployee(id: $id, expectedVersion: $v, input: $input) {{ {EMPLOYEE_FIELDS} }}
}}
"""


def marker(label: str) -> str:
    """A value unique to this test run, to look for at rest."""
    return f"{label}-{uuid.uuid4().hex[:12]}"


def employee_input(**overrides: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "firstName": f"First{tag}",
        "lastName": f"Last{tag}",
        "workEmail": f"work.{tag}@example.com",
        "personalEmail": f"home.{tag}@example.org",
        "phone": f"+49 30 {tag}",
        "dateOfBirth": "1990-04-01",
        "nationalId": f"NID{tag}",
        "address": f"{tag} Main Street 1, Berlin",
        "jobTitle": "Engineer",
        "department": "Engineering",
        "salary": 65000,
        "startDate": "2020-01-15",
        "status": "ACTIVE",
    }
    values.update(overrides)
    return values


async def create_employee(client: GraphQLClient, **overrides: Any) -> dict[str, Any]:
    data = await client.ok(CREATE_EMPLOYEE, {"input": employee_input(**overrides)})
    record: dict[str, Any] = data["createEmployee"]
    return record


async def until_region_back(services: Services, region: RegionName = "eu") -> None:
    """Wait (a few seconds at most) until *region* answers again after its server was
    restarted: the clients of the session drop their dead pooled connections."""
    for _ in range(25):
        try:
            await services.store.ping(region)
            return
        except RegionUnavailableError:
            await asyncio.sleep(0.2)
