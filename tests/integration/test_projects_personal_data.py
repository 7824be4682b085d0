"""Partners' personal data in the projects service over HTTP against the real PostgreSQL and Kafka: names and
contact details never enter an event, a stored answer or a Kafka record; a partner is edited by an event with
``If-Match``; erasing a partner's personal data leaves every stored event byte-identical (each row hashed before
and after) and the name gone from every table, except inline in an event recorded before names left the events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from projects.bootstrap import AGGREGATES
from projects.tables import TABLES
from shared.contracts import projects as ev
from shared.events import EventMetadata
from shared.eventstore import EventStore, NewEvent
from tests.support import auth_header, eventually, read_topic
from tests.support.clock import TODAY
from tests.support.http import ok
from tests.support.projects import register

pytestmark = pytest.mark.integration
NAME, EMAIL, PHONE = "Grace Hopper", "grace.hopper@acme.example", "+1 202 555 0100"
PERSONAL = (NAME, "Hopper", EMAIL, PHONE)
LEGACY = "Ada Legacy-Lovelace"
PMO = auth_header("pat.pmo", "pmo")


def engine(client: httpx.AsyncClient) -> Any:
    return client.app.state.runtime.engine  # type: ignore[attr-defined]


async def every_row_as_text(client: httpx.AsyncClient) -> list[str]:
    """Every row of every table of the service's schema, as text: where a name could hide."""
    async with engine(client).connect() as conn:
        tables = (
            await conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
            )
        ).scalars()
        dump: list[str] = []
        for table in list(tables):
            rows = await conn.execute(text(f'SELECT t::text FROM "{table}" t'))
            dump.extend(f"{table}: {r[0]}" for r in rows)
    return dump


async def event_hashes(client: httpx.AsyncClient) -> list[tuple[int, str]]:
    """Each stored event row (every column) as its position and the MD5 of its text."""
    async with engine(client).connect() as conn:
        rows = await conn.execute(text("SELECT position, md5(e::text) FROM events e ORDER BY position"))
        return [(r[0], r[1]) for r in rows]


async def test_erasing_a_partner_leaves_every_event_byte_identical_and_the_name_gone(
    client: httpx.AsyncClient, kafka: Any
) -> None:
    project = await register(client)
    base = f"/projects/{project['project_id']}"
    key = {"Idempotency-Key": str(uuid.uuid4()), **PMO}
    body = {"name": NAME, "email": EMAIL, "phone": PHONE, "kind": "external_partner", "organisation": "Acme Ltd"}
    body["role"] = "integrator"
    registered = await client.post(f"{base}/partners", json=body, headers=key)
    partner = await ok(registered, 201)
    pid = partner["partner_id"]
    assert registered.headers["location"] == f"{base}/partners/{pid}"
    assert (await ok(await client.get(registered.headers["location"])))["name"] == NAME
    assert partner["name"] == NAME and "email" not in partner
    legacy = await a_partner_registered_before_names_left_the_events(client, project["project_id"])
    talk = {"partner_id": pid, "on": str(TODAY), "channel": "call", "summary": "kick-off", "follow_up_due": None}
    await ok(await client.post(f"{base}/communications", json=talk, headers=PMO), 201)  # folds the legacy event in

    await an_edit_needs_a_fresh_if_match_and_is_in_the_audit_trail(client, base, pid)
    await names_are_read_back_only_from_the_table_and_contacts_only_by_their_readers(client, base, pid, legacy)

    before = await event_hashes(client)
    erased = await client.delete(f"{base}/partners/{pid}/personal-data", headers=PMO)
    assert erased.status_code == 204 and erased.content == b""
    assert (await client.delete(f"{base}/partners/{legacy}/personal-data", headers=PMO)).status_code == 204
    after = await event_hashes(client)
    assert after[: len(before)] == before  # every stored event byte-identical
    async with engine(client).connect() as conn:
        added = (
            await conn.execute(
                text("SELECT name, data FROM events WHERE position > :p ORDER BY position"), {"p": before[-1][0]}
            )
        ).all()
    assert [(n, d["partner_id"]) for n, d in added] == [
        ("partner-personal-data-erased", pid),
        ("partner-personal-data-erased", legacy),
    ]

    await no_table_holds_a_name_but_the_legacy_event(client)
    await reads_show_null_and_nothing_brings_the_name_back(client, base, pid, legacy, body, key, len(after))
    await kafka_carries_every_event_and_never_a_new_name(kafka, project["project_id"])


async def a_partner_registered_before_names_left_the_events(client: httpx.AsyncClient, project_id: str) -> str:
    """A ``partner-registered`` version 1 (the name inline) appended as the service wrote it before (the stored
    project view learns of it with the next command on the project)."""
    stream = f"project-{project_id}"
    async with engine(client).connect() as conn:
        version = (
            await conn.execute(text("SELECT max(version) FROM events WHERE stream_id = :s"), {"s": stream})
        ).scalar_one()
    legacy = uuid.uuid4()
    old = ev.PartnerRegistered(
        project_id=uuid.UUID(project_id),
        partner_id=legacy,
        name=LEGACY,
        kind=ev.PartnerKind.INTERNAL_STAKEHOLDER,
        organisation="Finance",
        role="controller",
    )
    await EventStore(ev.REGISTRY).append_alone(
        engine(client),
        stream_id=stream,
        stream_type="project",
        expected_version=version,
        events=[NewEvent.of(old)],
        metadata=EventMetadata("pat.pmo", "legacy-import"),
    )
    return str(legacy)


async def an_edit_needs_a_fresh_if_match_and_is_in_the_audit_trail(
    client: httpx.AsyncClient, base: str, pid: str
) -> None:
    read = await client.get(f"{base}/partners/{pid}")
    etag = read.headers["etag"]
    count = len(await event_hashes(client))
    stale = await client.patch(f"{base}/partners/{pid}", json={"role": "x"}, headers={"If-Match": '"1"', **PMO})
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    refused = await client.patch(f"{base}/partners/{pid}", json={"kind": "nope"}, headers=PMO)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "kind"
    empty = await client.patch(f"{base}/partners/{pid}", json={}, headers=PMO)
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "kind"
    assert len(await event_hashes(client)) == count  # nothing appended
    edited = await client.patch(
        f"{base}/partners/{pid}", json={"role": "prime contractor"}, headers={"If-Match": etag, **PMO}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["role"] == "prime contractor" and edited.json()["name"] == NAME
    assert edited.headers["etag"] == f'"{int(etag.strip(chr(34))) + 1}"'
    trail = await ok(await client.get(f"{base}/events", params={"limit": 100}))
    (entry,) = [e for e in trail["items"] if e["type"] == "partner-edited"]
    assert entry["actor"] == "pat.pmo" and entry["data"]["previous_role"] == "integrator"
    assert all(p not in str(e["data"]) for p in PERSONAL for e in trail["items"])


async def names_are_read_back_only_from_the_table_and_contacts_only_by_their_readers(
    client: httpx.AsyncClient, base: str, pid: str, legacy: str
) -> None:
    dump = await every_row_as_text(client)
    assert sorted({line.split(":")[0] for line in dump if NAME in line}) == ["partner_contacts"]
    assert all(p not in line for p in PERSONAL for line in dump if not line.startswith("partner_contacts:"))
    names = {p["partner_id"]: p["name"] for p in (await ok(await client.get(base)))["partners"]}
    assert names == {pid: NAME, legacy: LEGACY}  # the legacy name read from its event
    await client.app.state.runtime.executor.rebuild(AGGREGATES, TABLES)  # type: ignore[attr-defined]
    rebuilt = {p["partner_id"]: p["name"] for p in (await ok(await client.get(base)))["partners"]}
    assert rebuilt == names  # the query tables rebuilt from the events; the names' table left alone
    listed = (await client.get(f"{base}/partners", headers=auth_header("vic.viewer", "viewer"))).json()
    assert {p["partner_id"]: p["name"] for p in listed} == names
    contact = {"partner_id": pid, "name": NAME, "email": EMAIL, "phone": PHONE}
    for reader in (PMO, auth_header("fay.finance", "finance")):
        assert await ok(await client.get(f"{base}/partners/{pid}/personal-data", headers=reader)) == contact
    viewer = await client.get(f"{base}/partners/{pid}/personal-data", headers=auth_header("vic.viewer", "viewer"))
    assert viewer.status_code == 403
    rm = await client.delete(f"{base}/partners/{pid}/personal-data", headers=auth_header("rick", "resource-manager"))
    assert rm.status_code == 403
    bad = await client.put(f"{base}/partners/{pid}/personal-data", json={"name": NAME, "email": "no"}, headers=PMO)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"
    missing = await client.put(f"{base}/partners/{uuid.uuid4()}/personal-data", json={"name": "x"}, headers=PMO)
    assert missing.status_code == 404


async def no_table_holds_a_name_but_the_legacy_event(client: httpx.AsyncClient) -> None:
    dump = await every_row_as_text(client)
    assert [line for line in dump if any(p in line for p in PERSONAL)] == []
    (line,) = [line for line in dump if LEGACY in line]  # immutable: the version-1 event itself
    assert line.startswith("events:") and "partner-registered" in line


async def reads_show_null_and_nothing_brings_the_name_back(
    client: httpx.AsyncClient,
    base: str,
    pid: str,
    legacy: str,
    body: dict[str, Any],
    key: dict[str, str],
    events: int,
) -> None:
    view = await ok(await client.get(base))
    assert {p["partner_id"]: (p["name"], p["personal_data_erased_on"]) for p in view["partners"]} == {
        pid: (None, str(TODAY)),
        legacy: (None, str(TODAY)),
    }
    for erased in (pid, legacy):  # erased by the DELETE: no representation left (RFC 9110)
        gone = await client.get(f"{base}/partners/{erased}/personal-data")
        assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"
        assert f"erased on {TODAY}" in gone.json()["detail"]
    (talk,) = (await client.get(f"{base}/communications")).json()
    trail = await ok(await client.get(f"{base}/events", params={"limit": 100}))
    (old,) = [e for e in trail["items"] if e["type"] == "partner-registered" and e["data"]["partner_id"] == legacy]
    assert old["data"]["partner_id"] == legacy and old["data"]["name"] is None  # masked; the row keeps it
    assert talk["partner_id"] == pid and talk["summary"] == "kick-off"
    replay = await client.post(f"{base}/partners", json=body, headers=key)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["partner_id"] == pid and replay.json()["name"] is None
    refused = await client.put(f"{base}/partners/{pid}/personal-data", json={"name": NAME}, headers=PMO)
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    assert (await client.delete(f"{base}/partners/{pid}/personal-data", headers=PMO)).status_code == 204
    assert len(await event_hashes(client)) == events
    assert [line for line in await every_row_as_text(client) if any(p in line for p in PERSONAL)] == []


async def kafka_carries_every_event_and_never_a_new_name(kafka: Any, project_id: str) -> None:
    expected = [
        "project-registered",
        "partner-registered",
        "partner-registered",
        "communication-logged",
        "partner-edited",
        "partner-personal-data-erased",
        "partner-personal-data-erased",
    ]

    async def published() -> list[Any]:
        records = await read_topic(kafka, ev.TOPIC, expect=0, timeout=1)
        mine = [r for r in records if r.key == project_id.encode()]
        assert len(mine) == len(expected)
        return mine

    records = await eventually(published, timeout=30)
    records.sort(key=lambda r: int(dict(r.headers)["ce_streamversion"]))
    types = [dict(r.headers)["ce_type"].decode() for r in records]
    assert [t.split(".")[2] for t in types] == expected
    assert types[1] == "pmo.projects.partner-registered.v2" and types[2] == "pmo.projects.partner-registered.v1"
    assert all(p.encode() not in r.value + b"".join(v for _, v in r.headers) for p in PERSONAL for r in records)
