"""The RAID logs as reporting reads them: exposure (probability / 5 x money impact, open risks only, rounded once),
the 5 x 5 map and its drill-down, top risks, and the RAID alert conditions with hand-computed figures."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from reporting.domain import raid
from shared.contracts import raid as ev
from shared.events import DomainEvent
from shared.money import Money

PID, PROVIDER = uuid.UUID(int=1), uuid.UUID(int=2)
AS_OF = date(2027, 3, 10)
MILESTONE = uuid.UUID(int=30)


def risk(n: int, probability: int, impact: int, amount: str, **overrides: Any) -> ev.RiskRaised:
    assessment = ev.RiskAssessment(
        probability=probability,
        impact=impact,
        money_impact=Money.of(amount, "EUR"),
        owner="o",
        strategy=ev.RiskStrategy.MITIGATE,
        review_date=overrides.pop("review_date", date(2027, 4, 1)),
    )
    return ev.RiskRaised(
        project_id=PID,
        risk_id=uuid.UUID(int=n),
        title=f"R{n}",
        cause="c",
        event="e",
        effect="f",
        assessment=assessment,
        raised_on=date(2027, 3, 1),
    )


def book_of(*events: DomainEvent) -> raid.RaidBook:
    book = raid.RaidBook(str(PID))
    for event in events:
        assert book.apply(event, uuid.uuid4())
    return raid.RaidBook.from_json(book.to_json())  # what the read model stores and reads back


def no_provider(provider: str, milestone: str) -> raid.ProviderMilestone | None:
    return None


def test_exposure_is_probability_over_five_times_money_impact_of_open_risks_rounded_once() -> None:
    """R1: 3/5 x 50000.00 = 30000.00; R2: 2/5 x 12345.67 = 4938.268; R3 and R4: 1/5 x 0.03 = 0.006 each;
    R5 (5/5 x 100000.00) is closed: nothing. Total 30000.00 + 4938.268 + 0.012 = 34938.280 -> 34938.28 (rounding
    each first would give 30000.00 + 4938.27 + 0.01 + 0.01 = 34938.29)."""
    book = book_of(
        risk(1, 3, 4, "50000.00"),
        risk(2, 2, 5, "12345.67"),
        risk(3, 1, 1, "0.03"),
        risk(4, 1, 1, "0.03"),
        risk(5, 5, 5, "100000.00"),
        ev.RiskClosed(
            project_id=PID, risk_id=uuid.UUID(int=5), closed_on=AS_OF, closure=ev.RiskClosure.RETIRED, note=""
        ),
    )
    assert book.exposure() == {"EUR": Decimal("34938.280")}
    assert raid.exposure_totals([book]) == {"EUR": "34938.28"}
    lines = {r["risk_id"]: r for r in raid.top_risks([book])}
    assert lines[str(uuid.UUID(int=2))]["exposure"] == "4938.27"
    assert str(uuid.UUID(int=5)) not in lines


def test_the_map_has_25_cells_with_counts_and_the_cells_risks() -> None:
    book = book_of(risk(1, 3, 4, "50000.00"), risk(2, 3, 4, "10.00"), risk(3, 5, 1, "1.00"))
    cells = raid.risk_map([book])
    assert len(cells) == 25
    assert [(c["probability"], c["impact"]) for c in cells[:2]] == [(5, 1), (5, 2)]  # top row: probability 5
    by = {(c["probability"], c["impact"]): c for c in cells}
    assert by[(3, 4)]["count"] == 2 and by[(3, 4)]["score"] == 12
    assert [r["title"] for r in by[(3, 4)]["risks"]] == ["R1", "R2"]  # same score: higher exposure first
    assert by[(3, 4)]["exposure"] == {"EUR": "30006.00"}
    assert by[(5, 1)]["count"] == 1 and sum(c["count"] for c in cells) == 3


def test_top_risks_by_score_then_exposure() -> None:
    book = book_of(risk(1, 2, 2, "900000.00"), risk(2, 5, 5, "1.00"), risk(3, 4, 5, "10.00"))
    assert [r["title"] for r in raid.top_risks([book], limit=2)] == ["R2", "R3"]


def test_an_overdue_response_and_a_passed_review_raise_their_conditions() -> None:
    action = uuid.UUID(int=40)
    book = book_of(
        risk(1, 3, 4, "50000.00", review_date=date(2027, 3, 9)),
        ev.RiskResponsePlanned(
            project_id=PID,
            risk_id=uuid.UUID(int=1),
            action_id=action,
            description="second team",
            owner="j",
            due_date=date(2027, 3, 5),
        ),
    )
    found = {
        c.rule: c
        for c in raid.conditions(
            book, AS_OF, remaining_budget=None, currency="EUR", share=Decimal("0.5"), milestone_of=no_provider
        )
    }
    assert set(found) == {"raid-response-overdue", "raid-review-overdue"}
    assert found["raid-response-overdue"].subject == f"risk-action:{action}"
    assert found["raid-response-overdue"].figures["days_overdue"] == 5
    assert found["raid-review-overdue"].figures["days_overdue"] == 1
    # due today is not overdue yet; once completed, nothing
    on_due = raid.conditions(
        book, date(2027, 3, 5), remaining_budget=None, currency="EUR", share=Decimal("0.5"), milestone_of=no_provider
    )
    assert not [c for c in on_due if c.rule == "raid-response-overdue"]
    done = book_of(
        risk(1, 3, 4, "50000.00"),
        ev.RiskResponsePlanned(
            project_id=PID,
            risk_id=uuid.UUID(int=1),
            action_id=action,
            description="d",
            owner="j",
            due_date=date(2027, 3, 5),
        ),
        ev.RiskResponseCompleted(
            project_id=PID, risk_id=uuid.UUID(int=1), action_id=action, completed_on=date(2027, 3, 6), note=""
        ),
    )
    assert (
        raid.conditions(
            done, AS_OF, remaining_budget=None, currency="EUR", share=Decimal("0.5"), milestone_of=no_provider
        )
        == []
    )


def test_high_exposure_against_the_remaining_budget() -> None:
    """Exposure 30000.00: remaining 70000.00 x 0.5 = 35000.00 -> nothing; remaining 50000.00 x 0.5 = 25000 -> a
    warning; remaining 20000.00 -> critical (above the whole of it)."""
    book = book_of(risk(1, 3, 4, "50000.00"))

    def rules(remaining: str) -> dict[str, Any]:
        return {
            c.rule: c
            for c in raid.conditions(
                book,
                AS_OF,
                remaining_budget=Decimal(remaining),
                currency="EUR",
                share=Decimal("0.5"),
                milestone_of=no_provider,
            )
        }

    assert "raid-exposure-high" not in rules("70000.00")
    warning = rules("50000.00")["raid-exposure-high"]
    assert (warning.severity, warning.figures["exposure"], warning.figures["remaining_budget"]) == (
        "warning",
        "30000.00",
        "50000.00",
    )
    assert rules("20000.00")["raid-exposure-high"].severity == "critical"


def dependency(needed_by: date) -> ev.DependencyDeclared:
    return ev.DependencyDeclared(
        project_id=PID,
        dependency_id=uuid.UUID(int=50),
        provider_project_id=PROVIDER,
        provider_milestone_id=MILESTONE,
        needs="API",
        needed_by=needed_by,
        owner="o",
        declared_on=date(2027, 3, 1),
    )


def test_a_dependency_is_late_when_its_providers_milestone_is_overdue_or_due_after_it_is_needed() -> None:
    book = book_of(dependency(date(2027, 4, 30)))

    def late(due: date, reached: bool = False, missed: bool = False) -> list[Any]:
        def lookup(provider: str, milestone: str) -> raid.ProviderMilestone | None:
            assert (provider, milestone) == (str(PROVIDER), str(MILESTONE))
            return raid.ProviderMilestone("API live", due, reached, missed)

        return [
            c
            for c in raid.conditions(
                book, AS_OF, remaining_budget=None, currency="EUR", share=Decimal("0.5"), milestone_of=lookup
            )
            if c.rule == "raid-dependency-late"
        ]

    assert late(date(2027, 4, 1)) == []  # due before it is needed, not yet passed
    (overdue,) = late(date(2027, 3, 9))
    assert overdue.subject == f"dependency:{uuid.UUID(int=50)}" and overdue.severity == "warning"
    assert "was due 2027-03-09" in overdue.figures["reason"]
    (too_late,) = late(date(2027, 5, 15))
    assert "after it is needed" in too_late.figures["reason"]
    assert late(date(2027, 3, 9), reached=True) == []
    assert "missed" in late(date(2027, 4, 1), missed=True)[0].figures["reason"]
    # needed-by passed: critical whatever the milestone
    past = book_of(dependency(date(2027, 3, 1)))
    (critical,) = raid.conditions(
        past, AS_OF, remaining_budget=None, currency="EUR", share=Decimal("0.5"), milestone_of=no_provider
    )
    assert critical.severity == "critical"
    closed = book_of(
        dependency(date(2027, 3, 1)),
        ev.DependencyClosed(
            project_id=PID,
            dependency_id=uuid.UUID(int=50),
            provider_project_id=PROVIDER,
            outcome=ev.DependencyOutcome.MET,
            closed_on=AS_OF,
            note="",
        ),
    )
    assert (
        raid.conditions(
            closed, AS_OF, remaining_budget=None, currency="EUR", share=Decimal("0.5"), milestone_of=no_provider
        )
        == []
    )
