"""Containment blocks principals: every token issued before it is refused (an identity
provider's subject the tenant has no user for, a sessionless token) on every gateway, a
block edited or deleted in the database fails closed, and a download under way stops."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from ulid import ULID

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from resolvers import exportstream
from schema.errors import ForbiddenError
from storage.values import AccessEvent
from tests.support.client import GraphQLClient, Tenant, asgi_client, make_tenant
from tests.support.employees import create_employee
from tests.support.exports import START, download, export_done, exporter
from tests.support.idp import idp_token
from tests.support.raw import plain_client
from tests.support.roles import make_role, make_user

OPEN = "mutation($input: OpenIncidentInput!) { openIncident(input: $input) { id } }"
CONTAIN = """mutation($id: ID!) { containIncident(id: $id) {
  containment { action target outcome } } }"""
ME = "{ me { id } }"


def _opening(kind: str, principal: str) -> dict[str, Any]:
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    return {"input": {"compromised": [{"kind": kind, "id": principal}], "windowStart": start}}


async def _contain(admin: GraphQLClient, kind: str, principal: str) -> list[dict[str, Any]]:
    """Open an incident naming *principal* and contain it: its containment log."""
    made = (await admin.ok(OPEN, _opening(kind, principal)))["openIncident"]
    log: list[dict[str, Any]] = (await admin.ok(CONTAIN, {"id": made["id"]}))["containIncident"][
        "containment"
    ]
    return log


async def _next_second() -> None:
    """Wait into the next whole second: a token issued then (``iat`` is in whole seconds)
    is after the block, as one issued in the block's own second may not be."""
    now = time.time()
    await asyncio.sleep(math.ceil(now) - now + 0.05)


async def _status_becomes(client: GraphQLClient, status: int) -> int:
    """The status of ``me`` once it is *status*, asking for up to 10 s (another gateway
    process hears of a change on the policy channel, or at its next recheck)."""
    deadline = time.monotonic() + 10
    found = (await client.raw(ME)).status_code
    while found != status and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        found = (await client.raw(ME)).status_code
    return found


async def test_a_contained_external_subject_needs_a_token_issued_after_containment(
    idp_http: httpx.AsyncClient, http: httpx.AsyncClient, services: Services, keys: dict[str, Any]
) -> None:
    tenant = await make_tenant(services, "DE", "Blocked IdP Org")
    admin = GraphQLClient(idp_http, tenant.token)
    await make_role(admin, "viewer", read=["firstName"])
    subject = "idp|mallory"  # no user of the tenant: the provider vouches for it

    def token(**claims: Any) -> GraphQLClient:
        return GraphQLClient(
            idp_http, idp_token(keys["rsa"], "RS256", "r1", tenant.id, sub=subject, **claims)
        )

    old, undated = token(), token(iat=None)
    assert (await old.ok(ME))["me"]["id"] == subject
    assert (await undated.raw(ME)).status_code == 200
    log = await _contain(admin, "USER", subject)
    assert ("block_principal", f"user:{subject}") in {(a["action"], a["target"]) for a in log}
    assert (await old.raw(ME)).status_code == 401
    assert (await undated.raw(ME)).status_code == 401  # of unknown age: refused
    audited = await admin.ok(
        '{ auditLog(filter: {datasheet: "principal_blocks"}) { nodes { operation record } } }'
    )
    assert audited["auditLog"]["nodes"] == [{"operation": "create", "record": f"user:{subject}"}]
    await _next_second()
    renewed = token()  # the provider signed them in again
    assert (await renewed.ok(ME))["me"]["id"] == subject
    assert (await old.raw(ME)).status_code == 401


async def test_naming_a_subject_without_a_user_needs_a_provider_or_the_access_log(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Subject Naming Org")
    admin = GraphQLClient(http, tenant.token)  # a gateway without an identity provider
    refused = await admin(OPEN, _opening("USER", "idp|never-seen"))
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    seen = "idp|seen-before"
    await services.store.for_tenant(tenant.id).access_log.append(
        [
            AccessEvent(
                at=dt.datetime.now(dt.UTC),
                kind="read",
                principal=seen,
                roles=("viewer",),
                datasheet="employees",
                fields=("firstName",),
                records=(str(ULID()),),
            )
        ]
    )
    assert (await admin.ok(OPEN, _opening("USER", seen)))["openIncident"]["id"]


async def test_a_sessionless_token_is_refused_on_every_gateway(
    idp_http: httpx.AsyncClient, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Sessionless Block Org")
    admin = GraphQLClient(http, tenant.token)
    await make_role(admin, "staff", read=["lastName"])
    here, user = await make_user(admin, services, tenant, "s@block.example", ["staff"])
    there = GraphQLClient(idp_http, here.token)  # the same token at another gateway process
    assert (await here.raw(ME)).status_code == (await there.raw(ME)).status_code == 200
    await _contain(GraphQLClient(idp_http, tenant.token), "USER", user["id"])
    assert (await there.raw(ME)).status_code == 401  # the process that contained it
    assert await _status_becomes(here, 401) == 401  # and the other one
    await _next_second()
    fresh = services.tokens.issue(tenant.id, user["id"], ["staff"])
    for gateway in (http, idp_http):
        assert (await GraphQLClient(gateway, fresh).raw(ME)).status_code == 200


async def test_a_block_edited_in_the_database_fails_closed_and_a_deleted_one_holds(
    http: httpx.AsyncClient, services: Services, settings: Settings, app: Starlette
) -> None:
    tenant = await make_tenant(services, "DE", "Block Tamper Org")
    admin = GraphQLClient(http, tenant.token)
    await make_role(admin, "staff", read=["lastName"])
    old, user = await make_user(admin, services, tenant, "t@block.example", ["staff"])
    principal = f"user:{user['id']}"
    await _contain(admin, "USER", user["id"])
    await _next_second()
    issued_after = GraphQLClient(http, services.tokens.issue(tenant.id, user["id"], ["staff"]))
    assert (await issued_after.raw(ME)).status_code == 200
    raw = plain_client(settings, "eu")
    blocks = raw[database_name(tenant.id)]["principal_blocks"]
    gateway = app.state.services.policies
    try:
        # An insider moves the block back in time, to lift it for the old token.
        lifted = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        changed = await blocks.update_one({"_id": principal}, {"$set": {"blockedAt": lifted}})
        assert changed.modified_count == 1
        gateway.forget(tenant.id)  # as when anything of the tenant changes
        assert (await old.raw(ME)).status_code == 401
        assert (await issued_after.raw(ME)).status_code == 401  # the MAC fails: every token
        assert (await blocks.delete_one({"_id": principal})).deleted_count == 1
        gateway.forget(tenant.id)
        # The gateway keeps the block outside the database (Redis): still in force, as of
        # its own time.
        assert (await old.raw(ME)).status_code == 401
        assert (await issued_after.raw(ME)).status_code == 200
        await _contain(admin, "USER", user["id"])  # an admin contains them again
        await _next_second()
        renewed = GraphQLClient(http, services.tokens.issue(tenant.id, user["id"], ["staff"]))
        assert (await renewed.raw(ME)).status_code == 200
        assert (await old.raw(ME)).status_code == 401
        assert await blocks.count_documents({"_id": principal}) == 1
    finally:
        await raw.aclose()


async def test_a_download_under_way_stops_when_its_principal_is_contained(
    http: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    app: Starlette,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant: Tenant = await make_tenant(services, "DE", "Stream Block Org")
    admin = GraphQLClient(http, tenant.token)
    for _ in range(3):
        await create_employee(admin)
    client, user = await exporter(
        admin, services, tenant, "streamer", read=["lastName"], export=True
    )
    job = (await client.ok(START, {"sheet": "employees", "format": "NDJSON"}))["startExport"]
    monkeypatch.setattr(exportstream, "_CHUNK_RECORDS", 1)
    policies = app.state.services.policies
    checked = policies.blocked
    calls: list[list[dict[str, Any]]] = []

    async def contained_after_the_first_chunk(*args: Any) -> bool:
        # The admin contains the user while the download is under way (one chunk sent).
        if len(calls) == 1:
            async with asgi_client(app) as other:
                calls.append(await _contain(GraphQLClient(other, tenant.token), "USER", user["id"]))
        else:
            calls.append([])
        found: bool = await checked(*args)
        return found

    monkeypatch.setattr(policies, "blocked", contained_after_the_first_chunk)
    with pytest.raises(ForbiddenError):
        await download(http, job["url"])
    assert len(calls) == 2 and calls[1]  # stopped at the check after the containment
    done = await export_done(settings, tenant.id, user["id"])
    assert done is not None
    assert done["detail"]["rows"] == 1 and done["detail"]["complete"] is False


async def test_an_older_block_put_back_in_the_database_does_not_lift_the_later_one(
    http: httpx.AsyncClient, services: Services, settings: Settings, app: Starlette
) -> None:
    tenant = await make_tenant(services, "DE", "Block Rollback Org")
    admin = GraphQLClient(http, tenant.token)
    await make_role(admin, "staff", read=["lastName"])
    _, user = await make_user(admin, services, tenant, "r@block.example", ["staff"])
    principal = f"user:{user['id']}"
    raw = plain_client(settings, "eu")
    blocks = raw[database_name(tenant.id)]["principal_blocks"]
    try:
        await _contain(admin, "USER", user["id"])
        older = await blocks.find_one({"_id": principal})
        await _next_second()
        between = GraphQLClient(http, services.tokens.issue(tenant.id, user["id"], ["staff"]))
        await _next_second()
        await _contain(admin, "USER", user["id"])  # contained again: `between` is refused
        assert (await between.raw(ME)).status_code == 401
        assert older is not None
        await blocks.replace_one({"_id": principal}, older)  # its MAC holds
        app.state.services.policies.forget(tenant.id)
        assert (await between.raw(ME)).status_code == 401  # the later block, kept in Redis
    finally:
        await raw.aclose()
