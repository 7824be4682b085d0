"""A weekly status report refers to items of the project's RAID log by kind, beside its free text: given the project
and what its log holds, when the report is filed, then the event carries the ids, or the command is refused naming
the list and the position."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from projects import domain, handlers
from projects.domain.status import RaidReferences
from shared.contracts import projects as ev
from shared.errors import InvalidCommandError
from shared.immutable import frozen
from tests.support.fakes import FixedClock, InMemoryExecutor, acting_as
from tests.support.projects import APPROVE, PID, REGISTER, START, Scenario

RISK, ISSUE, DECISION, DEPENDENCY, ASSUMPTION = (uuid.UUID(int=n) for n in range(101, 106))
OTHER_PROJECTS = uuid.UUID(int=199)
LOG = {RISK: "risk", ISSUE: "issue", DECISION: "decision", DEPENDENCY: "dependency", ASSUMPTION: "assumption"}
"""The kinds of the items of project PID's log."""
CLOCK = FixedClock()


def report(references: RaidReferences, known: Mapping[uuid.UUID, str] = LOG, **free: Any) -> domain.FileStatusReport:
    green = ev.Rag.GREEN
    return domain.FileStatusReport(
        uuid.uuid4(),
        date(2027, 6, 14),
        green,
        green,
        green,
        green,
        green,
        "on track",
        raid=references,
        known_items=frozen({k: v for k, v in known.items() if k in references.ids()}),
        **free,
    )


def active() -> Scenario:
    return Scenario().given(REGISTER, APPROVE, START)


def test_the_report_carries_the_ids_of_the_items_it_refers_to_beside_its_free_text() -> None:
    refs = RaidReferences(risk_ids=(RISK,), issue_ids=(ISSUE,), assumption_ids=(ASSUMPTION,), decision_ids=(DECISION,))
    s = active()
    (filed,) = s.when(report(refs, risks=("vendor may be late",)))
    assert isinstance(filed, ev.StatusReported)
    assert (filed.risk_ids, filed.issue_ids, filed.assumption_ids) == ([RISK], [ISSUE], [ASSUMPTION])
    assert filed.decision_ids == [DECISION] and filed.dependency_ids == []
    assert filed.risks == ["vendor may be late"]  # free text still accepted
    (kept,) = s.state.status_reports
    assert kept.risk_ids == (RISK,) and kept.decision_ids == (DECISION,)


def test_a_report_without_references_is_as_before() -> None:
    (filed,) = active().when(report(RaidReferences(), decisions=("go live in May",)))
    assert isinstance(filed, ev.StatusReported)
    assert filed.risk_ids == filed.issue_ids == filed.dependency_ids == [] and filed.decisions == ["go live in May"]
    # An event written before the references existed still decodes, with none.
    old = filed.model_dump(mode="json")
    for name in ("risk_ids", "issue_ids", "assumption_ids", "decision_ids", "dependency_ids"):
        old.pop(name)
    assert ev.StatusReported.model_validate(old).risk_ids == []


@pytest.mark.parametrize(
    ("references", "field", "message"),
    [
        (RaidReferences(risk_ids=(RISK, OTHER_PROJECTS)), "risk_ids.1", "not an item of this project's RAID log"),
        (RaidReferences(issue_ids=(RISK,)), "issue_ids.0", "is a risk of the RAID log, not an issue"),
        (RaidReferences(dependency_ids=(DECISION,)), "dependency_ids.0", "list it in decision_ids"),
        (RaidReferences(decision_ids=(DECISION, DECISION)), "decision_ids.1", "listed twice"),
        (RaidReferences(assumption_ids=(ISSUE,)), "assumption_ids.0", "is an issue of the RAID log"),
    ],
)
def test_an_unknown_item_another_kind_or_a_repeat_is_refused_naming_the_list_and_position(
    references: RaidReferences, field: str, message: str
) -> None:
    with pytest.raises(InvalidCommandError, match=message) as refused:
        active().when(report(references))
    assert refused.value.field == field


@dataclass
class FakeLog:
    """Project PID's RAID log as the query table holds it; remembers what it was asked."""

    items: dict[uuid.UUID, str] = field(default_factory=lambda: dict(LOG))
    asked: list[tuple[uuid.UUID, frozenset[uuid.UUID]]] = field(default_factory=list)

    async def item_kinds(self, project_id: uuid.UUID, item_ids: Collection[uuid.UUID]) -> Mapping[uuid.UUID, str]:
        self.asked.append((project_id, frozenset(item_ids)))
        return {i: k for i, k in self.items.items() if i in item_ids and project_id == PID}


def executor() -> InMemoryExecutor:
    running = InMemoryExecutor(clock=CLOCK)
    running.given(domain.stream_id(PID), *Scenario(CLOCK.now()).given(REGISTER, APPROVE, START).history)
    return running


def green(**fields: Any) -> dict[str, Any]:
    dimensions = {d: ev.Rag.GREEN for d in ("schedule", "cost", "scope", "quality", "resources")}
    return {"meeting_date": CLOCK.now().date(), "narrative": "", **dimensions, **fields}


async def test_the_handler_reads_the_referenced_items_from_the_log_and_answers_with_them() -> None:
    log = FakeLog()
    refs = RaidReferences(risk_ids=(RISK,), dependency_ids=(DEPENDENCY,))
    outcome = await handlers.file_status_report(
        executor(), acting_as("max"), PID, **green(risks=["free text"]), references=refs, log=log
    )
    assert outcome.status_code == 201
    assert outcome.body["risk_ids"] == [str(RISK)] and outcome.body["dependency_ids"] == [str(DEPENDENCY)]
    assert outcome.body["risks"] == ["free text"] and outcome.body["issue_ids"] == []
    assert log.asked == [(PID, frozenset({RISK, DEPENDENCY}))]


async def test_the_handler_asks_the_log_nothing_without_references_and_refuses_an_item_it_lacks() -> None:
    log = FakeLog()
    await handlers.file_status_report(executor(), acting_as("max"), PID, **green(), log=log)
    assert log.asked == []
    running = executor()
    before = len(running.appended(domain.stream_id(PID)))
    with pytest.raises(InvalidCommandError) as refused:
        refs = RaidReferences(issue_ids=(uuid.uuid4(),))
        await handlers.file_status_report(running, acting_as("max"), PID, **green(), references=refs, log=log)
    assert refused.value.field == "issue_ids.0"
    assert len(running.appended(domain.stream_id(PID))) == before  # nothing appended
