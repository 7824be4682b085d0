"""Dead letters without infrastructure: what is kept of an error, the id of a record without one, who may act on
them, and the bounds of a redrive request (the HTTP body and ``pmo dlq`` alike)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from shared.auth import AccessPolicy, Role
from shared.cli import main as pmo
from shared.dead_letters import store
from shared.dead_letters.api import PREFIX, RedriveRequest, operator_access


def test_an_error_is_kept_as_its_type_and_message_without_a_stack_trace_and_bounded() -> None:
    try:
        raise ValueError("project code P-1 refused\n" + "x" * 5000)
    except ValueError as exc:
        kept = store.describe(exc)
    assert kept.startswith("ValueError: project code P-1 refused")
    assert "Traceback" not in kept and len(kept) == store.MAX_ERROR
    assert store.describe(None) == "unknown"


def test_a_record_without_an_event_id_is_kept_under_an_id_of_its_place_on_the_log() -> None:
    first = store.record_id("pmo.projects.v1", 2, 41)
    assert first == store.record_id("pmo.projects.v1", 2, 41)
    assert len({first, store.record_id("pmo.projects.v1", 2, 42), store.record_id("pmo.budget.v1", 2, 41)}) == 3


def test_only_operators_list_show_and_redrive_dead_letters_and_other_routes_keep_their_roles() -> None:
    policy = AccessPolicy(
        writers=frozenset({Role.FINANCE}), routes={"POST /budgets/{project_id}/x": frozenset({Role.FINANCE})}
    )
    granted = operator_access(policy)
    routes = (("GET", PREFIX), ("GET", f"{PREFIX}/{{event_id}}"), ("POST", f"{PREFIX}/{{event_id}}/redrive"))
    for method, path in routes:
        assert granted.allowed(method, path) == {Role.PMO, Role.DIRECTOR}, (method, path)
    assert granted.allowed("POST", "/budgets/{project_id}/x") == policy.allowed("POST", "/budgets/{project_id}/x")
    assert granted.allowed("GET", "/budgets") == policy.allowed("GET", "/budgets")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "a\x00b"}, "reason"),
        ({"reason": "x" * 4096}, "reason"),
        ({"reason": "ok", "consumer": "Robert'); DROP TABLE"}, "consumer"),
        ({"reason": "ok", "by": "someone.else"}, "by"),
    ],
)
def test_a_redrive_request_is_refused_naming_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RedriveRequest.model_validate(body)
    assert field in [str(e["loc"][0]) for e in refused.value.errors()]


def test_a_redrive_request_takes_a_reason_and_a_consumer() -> None:
    request = RedriveRequest.model_validate({"reason": "  fixed by release 2027.06.2 ", "consumer": "invoicing.budget"})
    assert (request.reason, request.consumer) == ("fixed by release 2027.06.2", "invoicing.budget")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["list", "--limit", str(10**9)], "--limit"),
        (["list", "--limit", "-1"], "--limit"),
        (["list", "--schema", "budget"], "--schema"),
        (["show", "budget", "not-an-id"], "EVENT_ID"),
        (["redrive", "budget"], "EVENT_ID"),
        (["redrive", "budget", str(uuid.uuid4()), "--all"], "EVENT_ID"),
        (["redrive", "budget", str(uuid.uuid4()), "--reason", "a\x00b"], "--reason"),
        (["redrive", "budget", str(uuid.uuid4()), "--reason", "x" * 4096], "--reason"),
        (["redrive", "budget", "--all", "--consumer", "BUDGET"], "--consumer"),
    ],
)
def test_pmo_dlq_refuses_a_bad_command_line_naming_the_argument_before_connecting(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pmo(["dlq", *args, "--database-url", "postgresql+asyncpg://nowhere.invalid/none"]) == 2
    assert named in capsys.readouterr().err


def test_pmo_dlq_without_a_database_url_finds_the_private_database_before_its_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starting the private PostgreSQL runs its own event loop: it cannot happen inside the command's."""
    import asyncio

    from shared.cli import dlq
    from shared.cli import main as pmo
    from shared.infra import system

    monkeypatch.delenv("PMO_DATABASE_URL", raising=False)
    seen: dict[str, str] = {}

    def private_database() -> system.Endpoints:
        asyncio.run(asyncio.sleep(0))  # as the real one does: refused inside a running loop
        return system.Endpoints(database_url="postgresql+asyncpg://private/pmo", kafka_bootstrap_servers="k:1")

    async def run(args: object, url: str, checked: object) -> int:
        seen["url"] = url
        return 0

    monkeypatch.setattr(system, "ensure_infrastructure", private_database)
    monkeypatch.setattr(dlq, "_run", run)
    assert pmo(["dlq", "list"]) == 0
    assert seen == {"url": "postgresql+asyncpg://private/pmo"}
