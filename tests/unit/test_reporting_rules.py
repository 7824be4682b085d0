"""Underfunding risk and alert rules with hand-computed cases."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from reporting.domain import alerts
from reporting.domain.evm import evm
from reporting.domain.ledger import book
from reporting.domain.risk import DEFAULT_CV, coefficient_of_variation, milestone_risks
from reporting.domain.rules import Thresholds, conditions
from shared.contracts import projects as p
from shared.contracts.alerts import AlertCleared, AlertRaised, AlertUpdated
from tests.support.reporting import (
    PID,
    baseline,
    fact,
    milestone,
    progress,
    registered,
    secured,
    started,
    work,
)

DAY = date(2027, 3, 15)


def risks(facts: list, as_of: date = DAY) -> list:  # type: ignore[type-arg]
    books = book(PID, facts, as_of)
    figures = evm(books, as_of)
    return milestone_risks(books, as_of, figures.value("ac") or Decimal(0), figures.value("cpi"), [])


def test_cost_needed_counts_actual_cost_and_remaining_value_at_the_cost_performance_seen() -> None:
    facts = [
        registered(),
        started(),
        baseline("100000.00"),
        milestone(1, "40000.00", date(2027, 3, 1)),
        milestone(2, "60000.00", date(2027, 4, 30)),
        progress(1, "50", date(2027, 3, 10)),
        work("25000.00", date(2027, 3, 12)),
        secured("200000.00", date(2027, 1, 1)),
    ]
    # EV = 20000, AC = 25000, CPI = 0.8. For M2 (due 30 April): remaining = 20000 + 60000 = 80000 -> 100000 at CPI.
    m1, m2 = risks(facts)  # M1 is overdue: still assessed (on today), and its remaining value counts for M2
    assert m1.overdue and m1.assessed_on == DAY and m1.remaining_planned_value == Decimal("20000")
    assert m2.needed == Decimal("125000") and m2.available == Decimal("200000.00")
    assert m2.remaining_planned_value == Decimal("80000") and m2.cpi_used == Decimal("0.8")
    assert m2.spread == Decimal("100000") * DEFAULT_CV
    assert m2.probability < Decimal("0.0001")  # 75000 margin is five spreads
    assert [r.name for r in risks(facts, date(2027, 2, 28))] == ["M1", "M2"]
    early = risks(facts, date(2027, 2, 28))[0]  # before any progress or cost: CPI taken as 1
    assert early.needed == Decimal("40000.00") and early.cpi_used == Decimal(1)


def test_a_shortfall_without_uncertainty_is_certain_and_an_even_bet_at_the_edge() -> None:
    short = [
        registered(),
        started(),
        milestone(1, "1000.00", date(2027, 4, 1)),
        progress(1, "100", date(2027, 3, 1)),
        work("5000.00", date(2027, 3, 1)),
        secured("100.00", date(2027, 1, 1)),
    ]
    (risk,) = risks(short)
    assert risk.spread == 0 and risk.probability == Decimal(1)  # nothing left to forecast; 5000 > 100
    even = [registered(), started(), milestone(1, "1000.00", date(2027, 4, 1)), secured("1000.00", date(2027, 1, 1))]
    (risk,) = risks(even)
    assert risk.needed == risk.available and risk.probability == Decimal("0.5")


def test_the_spread_comes_from_the_cpi_history_once_there_is_enough() -> None:
    assert coefficient_of_variation([Decimal("0.9")] * 3) == DEFAULT_CV
    cv = coefficient_of_variation([Decimal("0.8"), Decimal("1.0"), Decimal("0.8"), Decimal("1.0")])
    assert cv == Decimal("0.128300")  # stdev 0.11547 / mean 0.9


def test_tranches_available_after_the_due_date_do_not_count() -> None:
    facts = [registered(), started(), milestone(1, "1000.00", date(2027, 4, 1)), secured("5000.00", date(2027, 4, 2))]
    (risk,) = risks(facts)
    assert risk.available == 0 and risk.probability == Decimal(1)


def rules(facts: list, as_of: date = DAY, thresholds: Thresholds | None = None) -> dict[str, str]:  # type: ignore[type-arg]
    books = book(PID, facts, as_of)
    figures = evm(books, as_of)
    found = conditions(
        books,
        figures,
        milestone_risks(books, as_of, figures.value("ac") or Decimal(0), figures.value("cpi"), []),
        as_of,
        thresholds or Thresholds(),
    )
    return {c.rule: c.severity for c in found}


def test_an_active_project_without_a_status_report_for_more_than_7_days_is_an_alert() -> None:
    facts = [registered(), started(date(2027, 3, 1))]
    assert "status-report-missing" not in rules(facts, date(2027, 3, 8))
    assert "status-report-missing" in rules(facts, date(2027, 3, 9))
    report = fact(
        p.StatusReported(
            project_id=PID,
            report_id=uuid.uuid4(),
            meeting_date=date(2027, 3, 8),
            schedule=p.Rag.GREEN,
            cost=p.Rag.GREEN,
            scope=p.Rag.GREEN,
            quality=p.Rag.GREEN,
            resources=p.Rag.GREEN,
            overall=p.Rag.GREEN,
            overall_overridden=False,
            override_reason=None,
            narrative="",
            decisions=[],
            risks=[],
            next_steps=[],
        ),
        date(2027, 3, 8),
    )
    assert "status-report-missing" not in rules([*facts, report], date(2027, 3, 15))
    assert "status-report-missing" in rules([*facts, report], date(2027, 3, 16))
    assert "status-report-missing" not in rules([registered()], date(2027, 6, 1))  # only active projects


def test_cpi_spi_and_vac_thresholds_are_configurable() -> None:
    facts = [
        registered(),
        started(),
        baseline("100000.00"),
        milestone(1, "10000.00", date(2027, 3, 1)),
        progress(1, "85", date(2027, 3, 1)),
        work("10000.00", date(2027, 3, 1)),
        secured("1000000.00", date(2027, 1, 1)),
    ]
    found = rules(facts)  # CPI 0.85, SPI 0.85, VAC = 100000 - 117647 = -17.6 %
    assert found["cpi-below-threshold"] == "warning" and found["spi-below-threshold"] == "warning"
    assert "vac-overrun" in found
    relaxed = rules(
        facts,
        thresholds=Thresholds(cpi_below=Decimal("0.8"), spi_below=Decimal("0.8"), vac_below_bac_share=Decimal("-0.2")),
    )
    assert not {"cpi-below-threshold", "spi-below-threshold", "vac-overrun"} & set(relaxed)


def test_kpi_below_target_at_review_and_overdue_follow_ups() -> None:
    kpi = uuid.uuid4()
    facts = [
        registered(),
        started(),
        fact(
            p.KpiDefined(
                project_id=PID,
                kpi_id=kpi,
                name="reach",
                unit="%",
                target=Decimal(80),
                direction=p.KpiDirection.AT_LEAST,
                review_date=date(2027, 3, 10),
            ),
            date(2027, 1, 5),
        ),
        fact(
            p.KpiMeasured(
                project_id=PID,
                kpi_id=kpi,
                name="reach",
                unit="%",
                value=Decimal(76),
                target=Decimal(80),
                direction=p.KpiDirection.AT_LEAST,
                review_date=date(2027, 3, 10),
                measured_on=date(2027, 3, 5),
                target_met=False,
                note="",
            ),
            date(2027, 3, 5),
        ),
        fact(
            p.CommunicationLogged(
                project_id=PID,
                communication_id=uuid.uuid4(),
                partner_id=uuid.uuid4(),
                on=date(2027, 3, 1),
                channel=p.Channel.CALL,
                summary="x",
                follow_up_due=date(2027, 3, 12),
            ),
            date(2027, 3, 1),
        ),
    ]
    assert "kpi-below-target" not in rules(facts, date(2027, 3, 9))  # not yet at review
    found = rules(facts, date(2027, 3, 13))
    assert "kpi-below-target" in found and "follow-up-overdue" in found


def test_an_alert_is_raised_once_updated_when_its_figures_change_and_cleared_when_the_condition_ends() -> None:
    from datetime import UTC, datetime

    from reporting.domain.rules import Condition

    aggregate, now = alerts.ALERT, datetime(2027, 3, 15, tzinfo=UTC)
    c1 = Condition("cpi-below-threshold", f"project:{PID}", "warning", "CPI 0.85", {"cpi": "0.85"})
    state = aggregate.initial_state()
    (raised,) = aggregate.decide(state, alerts.Observe(PID, "pf", c1, DAY), now)
    assert isinstance(raised, AlertRaised)
    state = aggregate.evolve(state, raised)
    assert aggregate.decide(state, alerts.Observe(PID, "pf", c1, DAY), now) == []  # same condition: nothing new
    c2 = Condition("cpi-below-threshold", f"project:{PID}", "critical", "CPI 0.75", {"cpi": "0.75"})
    (updated,) = aggregate.decide(state, alerts.Observe(PID, "pf", c2, DAY), now)
    assert isinstance(updated, AlertUpdated)
    state = aggregate.evolve(state, updated)
    (cleared,) = aggregate.decide(state, alerts.Clear(PID, c2.rule, c2.subject, DAY + timedelta(1)), now)
    assert isinstance(cleared, AlertCleared)
    assert raised.alert_id == updated.alert_id == cleared.alert_id == alerts.alert_id(c1.rule, c1.subject)


def test_invoices_add_to_actual_cost_only_beyond_the_work_they_cite_and_raise_their_alerts() -> None:
    from tests.support.reporting import invoice_approved, invoice_matched, invoice_paid, invoice_received

    backed, short = uuid.uuid4(), uuid.uuid4()
    facts = [
        registered(),
        started(),
        baseline("100000.00"),
        milestone(1, "10000.00", date(2027, 3, 1)),
        progress(1, "100", date(2027, 3, 1)),
        work("8000.00", date(2027, 3, 2)),
        secured("1000000.00", date(2027, 1, 1)),
        invoice_received(backed, "8000.00", date(2027, 4, 1), date(2027, 3, 3)),
        invoice_matched(backed, "8000.00", "8000.00", date(2027, 3, 3), matched=True),
        invoice_approved(backed, "8000.00", date(2027, 3, 4)),
        invoice_received(short, "2000.00", date(2027, 3, 10), date(2027, 3, 5)),
        invoice_matched(short, "2000.00", "500.00", date(2027, 3, 5), matched=False),
        invoice_approved(short, "2000.00", date(2027, 3, 6)),
        invoice_paid(short, "1000.00", "1000.00", date(2027, 3, 7)),
    ]
    result = evm(book(PID, facts, DAY), DAY)
    assert result["ac"].value == Decimal("9500.00")  # 8000 of work + the 1500 of the second invoice beyond its work
    found = rules(facts)
    assert found["invoice-backing-below-target"] == "warning"  # 8500 backed of 10000 invoiced: 85 %
    assert found["invoice-overdue"] == "warning"  # the second is due 10 March and half unpaid
    assert found["invoice-paid-without-backing"] == "critical"
    assert "invoice-backing-below-target" not in rules(facts[:10])  # the first invoice alone is fully backed
