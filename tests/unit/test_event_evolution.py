"""Events evolve without breaking their readers: decoding ignores unknown fields at every level and validates the
known ones, building an event in code stays strict, the published schemas are open, a breaking change that keeps
its version fails the compatibility check against the committed snapshot, and ``milestone-planned`` v1 (no longer
produced) is read everywhere as v2."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic import ValidationError

from projects import domain
from reporting.domain.books import Books
from reporting.domain.ledger import Fact, book
from shared.contracts import compat
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.contracts.common import Booking
from shared.errors import InvalidCommandError
from shared.events import DomainEvent, EventRegistry
from shared.money import Money

DOCS = Path(__file__).resolve().parents[2] / "docs"
PID = uuid.UUID("0190a0a0-0000-7000-8000-000000000001")
MID = uuid.UUID("0190a0a0-0000-7000-8000-000000000002")
NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def sheet() -> r.WorkSheetApproved:
    """A work sheet in USD booked in EUR: nested parts two levels deep (entries, booked.original)."""
    rate = Money.of("100.00", "USD")
    return r.WorkSheetApproved(
        resource_id=uuid.uuid4(),
        sheet_id=uuid.uuid4(),
        version=1,
        replaces_version=None,
        project_id=PID,
        week="2027-W02",
        week_start=date(2027, 1, 11),
        kind=r.ResourceKind.PERSON,
        role="developer",
        vendor_id=None,
        submitted_by="sam",
        approved_by="rita",
        approved_on=date(2027, 1, 15),
        entries=[
            r.CostedEntry(
                day=date(2027, 1, 11),
                milestone_id=None,
                hours=Decimal(8),
                hourly_rate=rate,
                rate_source=r.RateSource.RESOURCE,
                rate_effective_from=date(2027, 1, 1),
                cost=Money.of("800.00", "USD"),
            )
        ],
        deliverables=[],
        hours=Decimal(8),
        cost=Money.of("800.00", "USD"),
        cost_by_milestone=[],
        booked=Booking.of(Money.of("800.00", "USD"), "EUR", Decimal("0.9"), date(2027, 1, 15), "ECB"),
    )


def with_extras(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as a later producer might send it: a field more at the top and in every nested part."""
    out = copy.deepcopy(data)
    out["added_later"] = {"anything": [1, 2]}
    out["entries"][0]["overtime"] = True
    out["entries"][0]["cost"]["rounding"] = "half-even"
    out["booked"]["original"]["note"] = "from the supplier"
    out["cost"]["display"] = "$800.00"
    return out


def milestone_v1(**extra: Any) -> dict[str, Any]:
    return {
        "project_id": str(PID),
        "milestone_id": str(MID),
        "name": "Design",
        "due_date": "2027-03-31",
        "planned_value": {"amount": "1200.00", "currency": "EUR"},
        "acceptance_criteria": "signed",
        **extra,
    }


# --- tolerant readers, strict writers --------------------------------------------------------------------------


def test_decoding_ignores_unknown_fields_at_every_level_and_reads_the_known_ones_unchanged() -> None:
    event = sheet()
    data = with_extras(event.model_dump(mode="json"))
    assert r.REGISTRY.decode("work-sheet-approved", 1, data) == event
    assert r.REGISTRY.decode_json("work-sheet-approved", 1, json.dumps(data)) == event


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(hours="eight"), "hours"),
        (lambda d: d.pop("approved_on"), "approved_on"),
        (lambda d: d["entries"][0].update(day="2027-13-01"), "entries.0.day"),
        (lambda d: d["booked"]["original"].update(currency="us dollars"), "booked.original.currency"),
    ],
)
def test_decoding_still_refuses_a_known_field_missing_or_invalid_beside_the_unknown_ones(
    change: Any, field: str
) -> None:
    data = with_extras(sheet().model_dump(mode="json"))
    change(data)
    for decode in (r.REGISTRY.decode, r.REGISTRY.decode_json):
        with pytest.raises(ValidationError) as error:
            decode("work-sheet-approved", 1, data if decode == r.REGISTRY.decode else json.dumps(data))  # type: ignore[arg-type]
        assert field in {".".join(str(part) for part in e["loc"]) for e in error.value.errors()}


def test_building_an_event_in_code_refuses_an_unknown_field_at_the_top_and_in_a_nested_part() -> None:
    fields = {k: v for k, v in p.MilestonePlannedV2.model_validate({**milestone_v1(), "start_date": "2027-01-04"})}
    with pytest.raises(ValidationError, match="plannd_value"):
        p.MilestonePlannedV2(**fields, plannd_value=eur("1.00"))  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="extra_forbidden"):
        p.MilestonePlannedV2(**{**fields, "planned_value": {"amount": "1.00", "currency": "EUR", "curency": "USD"}})
    with pytest.raises(ValidationError, match="extra_forbidden"):
        p.MilestonePlannedV2.model_validate({**milestone_v1(), "start_date": "2027-01-04", "typo": 1})


# --- published schemas -------------------------------------------------------------------------------------------


def _closed_anywhere(schema: Any) -> bool:
    if isinstance(schema, dict):
        return schema.get("additionalProperties") is False or any(_closed_anywhere(v) for v in schema.values())
    return isinstance(schema, list) and any(_closed_anywhere(v) for v in schema)


def test_every_published_schema_allows_additional_properties() -> None:
    files = sorted((DOCS / "events").rglob("*.schema.json"))
    assert len(files) == len(compat.current())
    closed = [str(f.relative_to(DOCS)) for f in files if _closed_anywhere(json.loads(f.read_text()))]
    assert closed == []


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("resources/work-sheet-approved.v1", with_extras(sheet().model_dump(mode="json"))),
        ("projects/milestone-planned.v1", milestone_v1(added_later=1)),
        ("projects/milestone-planned.v2", milestone_v1(start_date="2027-01-04", added_later={"x": 1})),
    ],
)
def test_the_published_schema_validates_an_event_with_extra_fields(path: str, data: dict[str, Any]) -> None:
    schema = json.loads((DOCS / "events" / f"{path}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(data)
    broken = {k: v for k, v in data.items() if k != "project_id"}
    with pytest.raises(jsonschema.ValidationError, match="project_id"):
        jsonschema.Draft202012Validator(schema).validate(broken)


# --- compatibility with the committed snapshot ----------------------------------------------------------------


def test_no_contract_breaks_the_committed_snapshot_and_the_snapshot_is_current() -> None:
    snapshot, current = compat.load(), compat.current()
    assert compat.breaking_changes(snapshot, current) == [], "a breaking change needs a new version and an upcaster"
    assert snapshot == current, (
        "an intended change (new version, optional field): `python -m shared.contracts snapshot`"
    )


def _changed(key: str, change: Any) -> dict[str, dict[str, Any]]:
    schemas = copy.deepcopy(compat.load())
    change(schemas[key])
    return schemas


SHEET = "resources/work-sheet-approved.v1"
PLANNED = "projects/milestone-planned.v2"


@pytest.mark.parametrize(
    ("key", "change", "expected"),
    [
        (SHEET, lambda s: s["properties"].pop("hours"), "field hours removed"),
        (SHEET, lambda s: s["required"].remove("hours") or s["properties"].pop("hours"), "field hours removed"),
        (SHEET, lambda s: s["required"].append("booked"), "field booked made required"),
        (
            SHEET,
            lambda s: (s["properties"].update(overtime={"type": "boolean"}), s["required"].append("overtime")),
            "field overtime added as required",
        ),
        (SHEET, lambda s: s["properties"].update(week={"type": "integer"}), "week changed type from string to integer"),
        (
            SHEET,
            lambda s: s["properties"]["approved_on"].update(format="date-time"),
            "approved_on changed type from string (date) to string (date-time)",
        ),
        (SHEET, lambda s: s["$defs"]["Money"]["properties"].pop("currency"), "field cost.currency removed"),
        (SHEET, lambda s: s["$defs"]["Money"]["properties"].pop("currency"), "field entries[].cost.currency removed"),
        (SHEET, lambda s: s["$defs"]["ResourceKind"]["enum"].remove("person"), "kind lost the enum values ['person']"),
        (
            SHEET,
            lambda s: s["properties"].update(vendor_id={"type": "string"}),
            "vendor_id changed type from null | string to string",
        ),
        (PLANNED, lambda s: s["properties"].pop("start_date"), "field start_date removed"),
    ],
)
def test_a_breaking_change_that_keeps_its_version_fails_the_check(key: str, change: Any, expected: str) -> None:
    problems = compat.breaking_changes(compat.load(), _changed(key, change))
    assert any(p == f"{key}: {expected}" for p in problems), problems


def test_a_version_that_disappears_fails_the_check() -> None:
    schemas = copy.deepcopy(compat.load())
    del schemas["projects/milestone-planned.v1"]
    assert compat.breaking_changes(compat.load(), schemas) == [
        "projects/milestone-planned.v1: removed (events of this version exist and must still decode)"
    ]


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["properties"].update(overtime={"type": "boolean", "default": False}),
        lambda s: s["$defs"]["ResourceKind"]["enum"].append("robot"),
        lambda s: s["$defs"]["Money"]["properties"].update(note={"anyOf": [{"type": "string"}, {"type": "null"}]}),
        lambda s: s["properties"]["hours"].update(description="worked, rounded to the quarter hour"),
    ],
    ids=["optional field", "enum value added", "optional nested field", "documentation"],
)
def test_additive_optional_changes_and_new_versions_pass(change: Any) -> None:
    changed = _changed(SHEET, change)
    changed["resources/work-sheet-approved.v2"] = changed[SHEET]
    assert compat.breaking_changes(compat.load(), changed) == []


# --- upcasting: milestone-planned v1 is read as v2 ------------------------------------------------------------


def test_a_v1_milestone_planned_decodes_as_v2_with_its_due_date_as_start() -> None:
    assert p.REGISTRY.upcasts("milestone-planned", 1) and ("milestone-planned", 1) in p.REGISTRY
    for decoded in (
        p.REGISTRY.decode("milestone-planned", 1, milestone_v1(added_later=1)),
        p.REGISTRY.decode_json("milestone-planned", 1, json.dumps(milestone_v1(added_later=1))),
    ):
        assert type(decoded) is p.MilestonePlannedV2 and decoded.event_version == 2
        assert decoded.start_date == decoded.due_date == date(2027, 3, 31)
        assert decoded.planned_value == eur("1200.00") and decoded.name == "Design"
    v2 = p.REGISTRY.decode("milestone-planned", 2, milestone_v1(start_date="2027-01-04"))
    assert type(v2) is p.MilestonePlannedV2 and v2.start_date == date(2027, 1, 4)
    with pytest.raises(ValidationError, match="start_date"):
        p.REGISTRY.decode("milestone-planned", 2, milestone_v1())


def test_an_upcaster_goes_from_one_version_to_the_next_of_the_same_event() -> None:
    registry = EventRegistry()
    with pytest.raises(ValueError, match="one version of an event to the next"):
        registry.register_upcaster(p.MilestonePlanned, p.MilestoneReached, lambda e: e)
    with pytest.raises(ValueError, match="one version of an event to the next"):
        registry.register_upcaster(p.MilestonePlannedV2, p.MilestonePlanned, lambda e: e)
    registry.register_upcaster(p.MilestonePlanned, p.MilestonePlannedV2, lambda e: e)
    with pytest.raises(TypeError, match="returned a MilestonePlanned"):
        registry.decode("milestone-planned", 1, milestone_v1())


def test_the_projects_service_produces_v2_with_the_start_given_or_the_projects_planned_start() -> None:
    state = domain.PROJECT.initial_state()
    register = domain.RegisterProject(
        project_id=domain.ProjectId(PID),
        portfolio_id="digital",
        programme_id=None,
        code="CRM",
        name="CRM",
        objectives="",
        sponsor="dora",
        manager="max",
        planned_start=date(2027, 1, 4),
        planned_end=date(2027, 12, 17),
        currency="EUR",
        registered_by="pat.pmo",
    )
    for event in domain.decide(state, register, NOW):
        state = domain.evolve(state, event)

    def plan(start: date | None) -> DomainEvent:
        command = domain.PlanMilestone(
            domain.MilestoneId(MID), "Design", date(2027, 3, 31), eur("1200.00"), "signed", start
        )
        (event,) = domain.decide(state, command, NOW)
        return event

    default, given = plan(None), plan(date(2027, 2, 1))
    assert isinstance(default, p.MilestonePlannedV2) and default.start_date == date(2027, 1, 4)
    assert isinstance(given, p.MilestonePlannedV2) and given.start_date == date(2027, 2, 1)
    assert domain.evolve(state, given).milestones[domain.MilestoneId(MID)].due_date == date(2027, 3, 31)
    for wrong in (date(2027, 4, 1), date(2027, 1, 3)):
        with pytest.raises(InvalidCommandError) as error:
            plan(wrong)
        assert error.value.field == "start_date"


def _fact(name: str, version: int, data: dict[str, Any]) -> Fact:
    return Fact(uuid.uuid4(), "projects", name, version, datetime(2027, 1, 3, 12, tzinfo=UTC), data)


def test_reportings_ledger_and_books_read_an_upcast_v1_and_a_v2_with_extra_fields_alike() -> None:
    registered = _fact(
        "project-registered",
        1,
        {
            "project_id": str(PID),
            "portfolio_id": "pf",
            "programme_id": None,
            "code": "CRM",
            "name": "CRM",
            "objectives": "",
            "sponsor": "s",
            "manager": "m",
            "planned_start": "2027-01-04",
            "planned_end": "2027-12-17",
            "currency": "EUR",
            "registered_by": "pat",
            "added_later": True,
        },
    )
    as_of = date(2027, 4, 1)
    seen = []
    for planned in (
        _fact("milestone-planned", 1, milestone_v1(added_later=1)),
        _fact("milestone-planned", 2, milestone_v1(start_date="2027-03-31", added_later={"a": 1})),
    ):
        ledger = book(PID, [registered, planned], as_of)
        books = Books(PID)
        for fact in (registered, planned):
            books.apply(fact)
        kept = books.at(as_of)
        for bk in (ledger, kept):
            (m,) = bk.milestones.values()
            assert (m.name, m.due_date, m.planned_value) == ("Design", date(2027, 3, 31), Decimal("1200.00"))
        seen.append([(m.name, m.due_date, m.planned_value) for m in kept.milestones.values()])
    assert seen[0] == seen[1]


# --- documentation ----------------------------------------------------------------------------------------------


def test_the_asyncapi_document_has_both_versions_and_says_v1_is_read_as_v2() -> None:
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    messages = doc["components"]["messages"]
    assert "Superseded by v2" in messages["projects.milestone-planned.v1"]["description"]
    assert messages["projects.milestone-planned.v2"]["payload"]["schema"]["$ref"].endswith(
        "projects/milestone-planned.v2.schema.json"
    )
    v1 = json.loads((DOCS / "events/projects/milestone-planned.v1.schema.json").read_text())
    v2 = json.loads((DOCS / "events/projects/milestone-planned.v2.schema.json").read_text())
    assert v1["x-pmo-read-as"] == "pmo.projects.milestone-planned.v2" and "start_date" not in v1["properties"]
    assert "start_date" in v2["required"] and "x-pmo-read-as" not in v2
