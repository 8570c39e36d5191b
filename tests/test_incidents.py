"""Breach incidents through the public API: opening one, its 72-hour clock, the state
machine, other tenants' ids, and containing it in one step (the contained user's token and
key answer 401 and its export links no longer download)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
from redis.asyncio.client import PubSub
from ulid import ULID

from gateway.services import Services
from resolvers.authz.policycache import CHANNEL
from tests.support.client import GraphQLClient, make_tenant
from tests.support.employees import create_employee
from tests.support.exports import START, download
from tests.support.roles import CREATE_API_KEY, make_role
from tests.support.signins import PASSWORD, login

INCIDENT = """id state version origin nature windowStart windowEnd detectedAt deadline
  hoursLeft overdue compromised { kind id } history { from to actorId note }
  containment { at action target outcome }"""
OPEN = (
    f"""mutation($input: OpenIncidentInput!) {{ openIncident(input: $input) {{ {INCIDENT} }} }}"""
)
CHANGE = f"""mutation($id: ID!, $s: IncidentState!, $v: Int!, $n: String) {{
  changeIncidentState(id: $id, state: $s, expectedVersion: $v, note: $n) {{ {INCIDENT} }} }}"""
CONTAIN = f"mutation($id: ID!) {{ containIncident(id: $id) {{ {INCIDENT} }} }}"
LIST = "query($s: IncidentState, $a: String) { incidents(state: $s, first: 2, after: $a) " \
    "{ nodes { id state } pageInfo { hasNextPage endCursor } } }"  # fmt: skip
ONE = f"query($id: ID!) {{ incident(id: $id) {{ {INCIDENT} }} }}"


NEW_KEY = """mutation { createApiKey(name: "etl", role: "staff", canExport: true) {
  key apiKey { id } } }"""
EXPORT = {"sheet": "employees", "format": "NDJSON", "fields": ["lastName"]}


async def _staff(http: httpx.AsyncClient, token: str) -> tuple[GraphQLClient, dict[str, Any]]:
    """The tenant's admin, with an employee and a role ``staff`` that may export; and a new
    key of that role (its text and id)."""
    admin = GraphQLClient(http, token)
    await create_employee(admin)
    await make_role(admin, "staff", read=["lastName"], export=True)
    created: dict[str, Any] = (await admin.ok(NEW_KEY))["createApiKey"]
    return admin, created


async def _staff_user(admin: GraphQLClient) -> tuple[str, str]:
    """A new user of role ``staff`` who may export, with a password: their id and email."""
    email = f"u{ULID()}@example.com".lower()
    made = await admin.ok(
        'mutation($e: String!, $p: String) { createUser(email: $e, roles: ["staff"], '
        "canExport: true, password: $p) { id } }",
        {"e": email, "p": PASSWORD},
    )
    return str(made["createUser"]["id"]), email


async def _signed_in(http: httpx.AsyncClient, tenant_id: str, email: str) -> str:
    """A new sign-in session's access token."""
    token: str = (await login(http, tenant_id, email)).json()["data"]["login"]["accessToken"]
    return token


async def _announced(pubsub: PubSub) -> list[str]:
    """The tenants announced on the policy channel, waiting up to 10 s for the first."""
    found: list[str] = []
    deadline = asyncio.get_running_loop().time() + 10
    while not found and asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        while message is not None:
            data = message["data"]
            found.append(data.decode() if isinstance(data, bytes) else str(data))
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
    return found


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat()


def _code(body: dict[str, Any]) -> str:
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def _open(admin: GraphQLClient, compromised: list[dict[str, Any]], **extra: Any) -> Any:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    variables = {"input": {"compromised": compromised, "windowStart": _iso(start), **extra}}
    return (await admin.ok(OPEN, variables))["openIncident"]


async def test_open_list_and_move_an_incident_through_its_states(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Incidents Org")
    admin = GraphQLClient(http, tenant.token)
    detected = dt.datetime.now(dt.UTC) - dt.timedelta(hours=70)
    made = await _open(
        admin, [{"kind": "USER", "id": tenant.admin_id}], nature="laptop stolen",
        detectedAt=_iso(detected),
    )  # fmt: skip
    assert (made["state"], made["version"], made["origin"]) == ("CONFIRMED", 1, "admin")
    deadline = dt.datetime.fromisoformat(made["deadline"])
    assert deadline - dt.datetime.fromisoformat(made["detectedAt"]) == dt.timedelta(hours=72)
    assert 1.5 < made["hoursLeft"] < 2.5 and made["overdue"] is False
    late = await _open(
        admin, [{"kind": "USER", "id": tenant.admin_id}],
        detectedAt=_iso(detected - dt.timedelta(hours=5)),
    )  # fmt: skip
    assert late["hoursLeft"] < 0 and late["overdue"] is True

    listed = (await admin.ok(LIST))["incidents"]
    assert [n["id"] for n in listed["nodes"]] == [late["id"], made["id"]]
    assert listed["pageInfo"]["hasNextPage"] is False

    stale = await admin(CHANGE, {"id": made["id"], "s": "DISMISSED", "v": 7})
    assert _code(stale) == "CONFLICT"
    skipped = await admin(CHANGE, {"id": made["id"], "s": "CLOSED", "v": 1})
    assert _code(skipped) == "BAD_USER_INPUT"
    reported = await admin.ok(CHANGE, {"id": made["id"], "s": "REPORTED", "v": 1, "n": "filed"})
    moved = reported["changeIncidentState"]
    assert (moved["state"], moved["version"]) == ("REPORTED", 2)
    assert moved["history"][-1] == {
        "from": "CONFIRMED", "to": "REPORTED", "actorId": tenant.admin_id, "note": "filed"
    }  # fmt: skip
    closed = await admin.ok(CHANGE, {"id": made["id"], "s": "CLOSED", "v": 2})
    assert closed["changeIncidentState"]["state"] == "CLOSED"
    reopened = await admin(CHANGE, {"id": made["id"], "s": "CONFIRMED", "v": 3})
    assert _code(reopened) == "BAD_USER_INPUT"
    assert [n["id"] for n in (await admin.ok(LIST, {"s": "CLOSED"}))["incidents"]["nodes"]] == [
        made["id"]
    ]
    audited = await admin.ok(
        '{ auditLog(filter: {datasheet: "incidents"}) { nodes { operation } } }'
    )
    assert len(audited["auditLog"]["nodes"]) == 4  # two opened, two state changes


async def test_other_tenants_ids_are_not_found_and_only_admins_see_incidents(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant, other = await make_tenant(services, "DE"), await make_tenant(services, "FR")
    admin, theirs = GraphQLClient(http, tenant.token), GraphQLClient(http, other.token)
    await make_role(theirs, "etl", read=["lastName"])
    key = (await theirs.ok(CREATE_API_KEY, {"role": "etl"}))["createApiKey"]["apiKey"]["id"]
    start = _iso(dt.datetime.now(dt.UTC))
    for kind, foreign in (("USER", other.admin_id), ("API_KEY", key), ("EXPORT_LINK", str(ULID()))):
        body = await admin(
            OPEN, {"input": {"compromised": [{"kind": kind, "id": foreign}], "windowStart": start}}
        )
        assert _code(body) == "NOT_FOUND" and foreign not in str(body["errors"][0]["message"])
    assert (await admin.ok(LIST))["incidents"]["nodes"] == []
    mine = await _open(admin, [{"kind": "USER", "id": tenant.admin_id}])
    assert (await theirs.ok(ONE, {"id": mine["id"]}))["incident"] is None
    assert _code(await theirs(CHANGE, {"id": mine["id"], "s": "DISMISSED", "v": 1})) == "NOT_FOUND"
    assert _code(await theirs(CONTAIN, {"id": mine["id"]})) == "NOT_FOUND"
    assert (await admin.ok(ONE, {"id": mine["id"]}))["incident"]["version"] == 1
    assert (await admin.ok(ONE, {"id": str(ULID())}))["incident"] is None
    platform = await admin(
        OPEN, {"input": {"compromised": [{"kind": "PLATFORM"}], "windowStart": start}}
    )
    assert _code(platform) == "BAD_USER_INPUT"
    await make_role(admin, "reader", read=["lastName"])
    reader_key = (await admin.ok(CREATE_API_KEY, {"role": "reader"}))["createApiKey"]["key"]
    reader = GraphQLClient(http, reader_key)
    for query, variables in (
        (LIST, None),
        (ONE, {"id": mine["id"]}),
        (CONTAIN, {"id": mine["id"]}),
    ):
        assert _code(await reader(query, variables)) == "FORBIDDEN"


async def test_containment_locks_the_user_and_key_out_and_revokes_their_export_links(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Contain Org")
    admin, created = await _staff(http, tenant.token)
    user_id, email = await _staff_user(admin)
    signed_in = (await login(http, tenant.id, email)).json()["data"]["login"]
    user = GraphQLClient(http, signed_in["accessToken"])
    key = GraphQLClient(http, created["key"])
    user_link = (await user.ok(START, EXPORT))["startExport"]["url"]
    key_link = (await key.ok(START, EXPORT))["startExport"]["url"]
    other_key = (await admin.ok(CREATE_API_KEY, {"role": "staff"}))["createApiKey"]["key"]
    assert (await user.ok("{ me { id } }"))["me"]["id"] == user_id
    incident = await _open(
        admin, [{"kind": "USER", "id": user_id}, {"kind": "API_KEY", "id": created["apiKey"]["id"]}]
    )

    pubsub = services.redis.pubsub()  # as every gateway process listens
    await pubsub.subscribe(CHANNEL)
    # Redis confirms the subscription: an announcement published before it would be missed.
    confirmed = await pubsub.get_message(timeout=10)
    assert confirmed is not None and confirmed["type"] == "subscribe"
    try:
        contained = (await admin.ok(CONTAIN, {"id": incident["id"]}))["containIncident"]
        assert tenant.id in await _announced(pubsub)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]

    actions = {(a["action"], a["target"]) for a in contained["containment"]}
    assert {
        ("end_sessions", f"user:{user_id}"),
        ("require_new_password", f"user:{user_id}"),
        ("revoke_export_links", f"user:{user_id}"),
        ("revoke_api_key", f"api_key:{created['apiKey']['id']}"),
        ("announce", "gateways"),
    } <= actions
    assert all(a["at"] for a in contained["containment"]) and contained["version"] == 2
    for client in (user, key):
        assert (await client.raw("{ me { id } }")).status_code == 401
    refused = await download(http, user_link)
    # The user is blocked (its link was also revoked): refused before the link is looked at.
    assert refused.status_code == 403, refused.text
    assert (await download(http, key_link)).status_code == 403  # the key is revoked
    assert (await login(http, tenant.id, email)).json()["data"] is None  # a new password first
    # What was not named still works.
    assert (await GraphQLClient(http, other_key).raw("{ me { id } }")).status_code == 200
    assert (await admin.raw("{ me { id } }")).status_code == 200


async def test_containing_one_export_link_leaves_its_key_working(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Link Org")
    admin, created = await _staff(http, tenant.token)
    key = GraphQLClient(http, created["key"])
    leaked, kept = [(await key.ok(START, EXPORT))["startExport"] for _ in range(2)]
    incident = await _open(admin, [{"kind": "EXPORT_LINK", "id": leaked["id"]}])
    contained = (await admin.ok(CONTAIN, {"id": incident["id"]}))["containIncident"]
    first = contained["containment"][0]
    assert (first["action"], first["outcome"]) == ("revoke_export_link", "revoked")
    assert (await download(http, leaked["url"])).status_code == 410
    assert (await download(http, kept["url"])).status_code == 200
    assert (await key.raw("{ me { id } }")).status_code == 200


async def test_containing_a_session_revokes_the_export_links_started_in_it(
    http: httpx.AsyncClient, services: Services
) -> None:
    """A stolen session's holder starts an export, then the session is contained: the link
    they hold must no longer download (the user is still there, so the link's principal is)."""
    tenant = await make_tenant(services, "DE", "Session Org")
    admin, _ = await _staff(http, tenant.token)
    user_id, email = await _staff_user(admin)
    stolen = GraphQLClient(http, await _signed_in(http, tenant.id, email))
    link = (await stolen.ok(START, EXPORT))["startExport"]["url"]
    other = GraphQLClient(http, await _signed_in(http, tenant.id, email))
    kept = (await other.ok(START, EXPORT))["startExport"]["url"]
    sessions = (
        await admin.ok("query($u: ID!) { userSessions(userId: $u) { id } }", {"u": user_id})
    )["userSessions"]
    assert len(sessions) == 2
    # The stolen session is the older one (newest first).
    incident = await _open(admin, [{"kind": "SESSION", "id": sessions[-1]["id"]}])
    await admin.ok(CONTAIN, {"id": incident["id"]})
    assert (await stolen.raw("{ me { id } }")).status_code == 401
    refused = await download(http, link)
    assert refused.status_code == 410, refused.status_code
    assert (await download(http, kept)).status_code == 200  # another session's link still works
