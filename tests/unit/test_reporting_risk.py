"""Underfunding risk, second version (``reporting.domain.risk``), with hand-computed cases: which projects are
assessed, overdue milestones, committed and planned cost counted once, the spread's floor, planned and withdrawn
tranches, the funding needed for a risk of at most 5 % and the portfolio's share of milestones at risk.

Normal figures used below (standard normal CDF Phi, 6 decimals): Phi(4) = 0.999968, Phi(2.666667) = 0.996170,
Phi(2) = 0.977250, Phi(1.333333) = 0.908789; z(95 %) = 1.644854, z(90 %) = 1.281552.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from reporting import handlers, views
from reporting.domain.evm import evm
from reporting.domain.ledger import Fact, ProjectBook, TrancheBook, book
from reporting.domain.risk import (
    CV_FLOOR,
    DEFAULT_CV,
    MilestoneRisk,
    coefficient_of_variation,
    milestone_risks,
    summary,
    z_score,
)
from reporting.domain.rules import Thresholds, conditions
from shared.contracts import budget as b
from shared.contracts import projects as p
from tests.support.money import eur
from tests.support.reporting import PID, fact, milestone, progress, registered, secured, started, work
from tests.unit.test_reporting_handlers import FakeFacts

DAY = date(2027, 3, 15)
CENT = Decimal("0.01")


def risks_of(
    facts: list[Fact],
    as_of: date = DAY,
    history: list[Decimal] | None = None,
    limit: Decimal = Decimal("0.05"),
    tranches: Sequence[TrancheBook] = (),
) -> list[MilestoneRisk]:
    books = book(PID, facts, as_of)
    for t in tranches:
        books.tranches[t.tranche_id] = t
    figures = evm(books, as_of)
    return milestone_risks(books, as_of, figures.value("ac") or Decimal(0), figures.value("cpi"), history or [], limit)


def alerts_of(facts: list[Fact], as_of: date) -> dict[str, dict[str, Any]]:
    books = book(PID, facts, as_of)
    figures = evm(books, as_of)
    found = milestone_risks(books, as_of, figures.value("ac") or Decimal(0), figures.value("cpi"), [])
    return {
        c.subject: {"title": c.title, **c.figures}
        for c in conditions(books, figures, found, as_of, Thresholds())
        if c.rule == "underfunding-risk"
    }


def cents(x: Decimal) -> Decimal:
    return x.quantize(CENT)


def lifecycle(event: Any, on: date) -> Fact:
    return fact(event, on)


def approved(on: date = date(2027, 1, 3)) -> Fact:
    return lifecycle(p.ProjectApproved(project_id=PID, approved_by="d", approved_on=on, note=""), on)


def commitment(amount: str, expected_on: date, recorded: date = date(2027, 3, 1)) -> Fact:
    return fact(
        b.BudgetCommitted(
            project_id=PID,
            commitment_id=uuid.uuid4(),
            kind=b.CommitmentKind.PURCHASE_ORDER,
            vendor="ACME",
            reference="PO-1",
            category=b.CostCategory.LABOUR,
            milestone_id=None,
            amount=eur(amount),
            expected_invoices=[b.InvoiceExpectation(on=expected_on, amount=eur(amount))],
            overrun=None,
            policy=b.OverrunPolicy.WARN,
            requested_by="f",
            approved_by=None,
        ),
        recorded,
    )


def tranche(amount: str, on: date, *, planned: bool = False, withdrawn_on: date | None = None) -> TrancheBook:
    return TrancheBook(uuid.uuid4(), Decimal(amount), on, withdrawn_on, uuid.uuid4(), planned)


M1_UNFUNDED = [
    registered(),
    started(),
    milestone(1, "10000.00", date(2027, 3, 10)),
    secured("4000.00", date(2027, 1, 1)),
]
"""Active; M1 (10000, due 10 March) not started, no cost; 4000 secured since January."""


# --- which projects ---------------------------------------------------------------------------------------------


def test_only_projects_that_can_still_spend_are_assessed_and_on_hold_ones_are_flagged() -> None:
    """M1 (10000 due 30 April), 4000 secured: assessed when approved, active or on hold; a proposed, completed or
    terminated project raises nothing, whatever its open milestones."""
    plan = [milestone(1, "10000.00", date(2027, 4, 30)), secured("4000.00", date(2027, 1, 1))]
    assert risks_of([registered(), *plan]) == []  # proposed
    (on_approval,) = risks_of([registered(), approved(), *plan])
    assert not on_approval.on_hold and on_approval.needed == Decimal("10000.00")
    hold = lifecycle(p.ProjectPutOnHold(project_id=PID, reason="sponsor review", on=date(2027, 3, 1)), date(2027, 3, 1))
    (held,) = risks_of([registered(), started(), hold, *plan])
    assert held.on_hold and held.driver.endswith("; project on hold")
    assert held.probability == Decimal("0.999968")  # needed 10000, sd 1500, available 4000: 1 - Phi(-4)
    done = lifecycle(p.ProjectCompleted(project_id=PID, completed_on=date(2027, 3, 1), note=""), date(2027, 3, 1))
    ended = lifecycle(p.ProjectTerminated(project_id=PID, reason="cancelled", on=date(2027, 3, 1)), date(2027, 3, 1))
    assert risks_of([registered(), started(), done, *plan]) == []
    assert risks_of([registered(), started(), ended, *plan]) == []
    on_hold_alert = alerts_of([registered(), started(), hold, *plan], DAY)
    assert on_hold_alert[f"milestone:{uuid.UUID(int=1)}"]["on_hold"] is True


# --- overdue milestones -----------------------------------------------------------------------------------------


def test_an_overdue_unfunded_milestone_is_assessed_today_and_keeps_its_alert_until_funded_reached_missed_or_moved() -> (
    None
):
    """M1: 10000 due 10 March, nothing earned or spent (CPI 1), 4000 secured. Assessed on max(due, as of):
    on 15 March needed = 10000, sd = 10000 x 15 % = 1500, available 4000:
    risk = 1 - Phi((4000 - 10000) / 1500) = 1 - Phi(-4) = 0.999968;
    funding needed (95 %) = 10000 + 1.644854 x 1500 = 12467.28; shortfall = 12467.28 - 4000 = 8467.28."""
    (m1,) = risks_of(M1_UNFUNDED)
    assert (m1.overdue, m1.assessed_on, m1.due_date) == (True, DAY, date(2027, 3, 10))
    assert (m1.needed, m1.available, m1.spread) == (Decimal("10000.00"), Decimal("4000.00"), Decimal("1500.0000"))
    assert m1.probability == Decimal("0.999968")
    assert cents(m1.funding_needed) == Decimal("12467.28") and cents(m1.shortfall) == Decimal("8467.28")
    subject = f"milestone:{uuid.UUID(int=1)}"
    for day in (date(2027, 3, 10), date(2027, 3, 11), date(2027, 3, 15), date(2027, 6, 1)):
        assert subject in alerts_of(M1_UNFUNDED, day), day  # the day after its due date and every day after
    raised = alerts_of(M1_UNFUNDED, date(2027, 3, 11))[subject]
    assert raised["overdue"] is True and "is overdue and not funded (due 2027-03-10)" in raised["title"]
    assert raised == alerts_of(M1_UNFUNDED, date(2027, 3, 20))[subject]  # the same figures: no daily update

    # Funded: 9000 more from 14 March (after the due date, before today) -> available 13000:
    # risk = 1 - Phi((13000 - 10000) / 1500) = 1 - Phi(2) = 0.022750 < 5 %; shortfall 0.
    funded = [*M1_UNFUNDED, secured("9000.00", date(2027, 3, 14))]
    (m1,) = risks_of(funded)
    assert m1.probability == Decimal("0.02275") and m1.shortfall == 0
    assert subject not in alerts_of(funded, DAY) and subject in alerts_of(funded, date(2027, 3, 13))
    # Reached or missed: no longer open.
    reached = fact(
        p.MilestoneReached(
            project_id=PID,
            milestone_id=uuid.UUID(int=1),
            name="M1",
            planned_value=eur("10000.00"),
            due_date=date(2027, 3, 10),
            reached_on=date(2027, 3, 12),
            accepted_by="d",
            acceptance_note="",
        ),
        date(2027, 3, 12),
    )
    missed = fact(
        p.MilestoneMissed(project_id=PID, milestone_id=uuid.UUID(int=1), due_date=date(2027, 3, 10), reason="late"),
        date(2027, 3, 11),
    )
    assert risks_of([*M1_UNFUNDED, reached]) == [] and risks_of([*M1_UNFUNDED, missed]) == []
    # Rescheduled to 30 June with 9000 more available on 1 June: assessed on its new date, funded by then.
    moved = fact(
        p.MilestoneRescheduled(
            project_id=PID,
            milestone_id=uuid.UUID(int=1),
            previous_due_date=date(2027, 3, 10),
            due_date=date(2027, 6, 30),
            reason="scope",
        ),
        date(2027, 3, 14),
    )
    (m1,) = risks_of([*M1_UNFUNDED, moved, secured("9000.00", date(2027, 6, 1))])
    assert not m1.overdue and m1.assessed_on == date(2027, 6, 30) and m1.probability == Decimal("0.02275")


# --- committed and planned cost, counted once -------------------------------------------------------------------


def test_committed_cost_is_not_added_on_top_of_the_remaining_planned_value_but_is_a_floor() -> None:
    """M1: 50000 due 30 April, nothing earned or spent (CPI 1); ample funding.
    A purchase order of 30000 invoiced 15 April: to come = max(50000, 30000) = 50000 (the first version said 80000).
    One of 70000 invoiced 15 April: to come = max(50000, 70000) = 70000 (what is signed is owed).
    One of 30000 invoiced 15 May (after the due date): not due by then, to come = 50000."""
    plan = [
        registered(),
        started(),
        milestone(1, "50000.00", date(2027, 4, 30)),
        secured("500000.00", date(2027, 1, 1)),
    ]
    (within,) = risks_of([*plan, commitment("30000.00", date(2027, 4, 15))])
    assert (within.forecast, within.commitments_due) == (Decimal("50000.00"), Decimal("30000.00"))
    assert within.to_come == within.needed == Decimal("50000.00") and within.spread == Decimal("7500.0000")
    (above,) = risks_of([*plan, commitment("70000.00", date(2027, 4, 15))])
    assert above.to_come == above.needed == Decimal("70000.00") and above.spread == Decimal("10500.0000")
    (later,) = risks_of([*plan, commitment("30000.00", date(2027, 5, 15))])
    assert later.commitments_due == 0 and later.needed == Decimal("50000.00")


def test_cost_needed_is_actual_cost_plus_the_larger_of_the_forecast_at_cpi_and_the_commitments_due() -> None:
    """M1: 50000 due 30 April, 25 % reported (EV 12500), 20000 spent (AC): CPI = 12500 / 20000 = 0.625.
    Forecast = remaining 37500 / 0.625 = 60000; a 30000 purchase order invoiced 15 April is part of it:
    needed = 20000 + max(60000, 30000) = 80000; sd = 60000 x 15 % = 9000."""
    facts = [
        registered(),
        started(),
        milestone(1, "50000.00", date(2027, 4, 30)),
        progress(1, "25", date(2027, 3, 10)),
        work("20000.00", date(2027, 3, 12)),
        secured("500000.00", date(2027, 1, 1)),
        commitment("30000.00", date(2027, 4, 15)),
    ]
    (m1,) = risks_of(facts)
    assert (m1.actual_cost, m1.cpi_used, m1.remaining_planned_value) == (
        Decimal("20000.00"),
        Decimal("0.625"),
        Decimal("37500"),
    )
    assert m1.forecast == Decimal("60000") and m1.needed == Decimal("80000") and m1.spread == Decimal("9000.000")


# --- the spread ---------------------------------------------------------------------------------------------------


def test_the_spread_has_a_floor_so_a_steady_cpi_does_not_make_the_forecast_certain() -> None:
    """Fewer than 4 weekly CPI points: 15 %. Constant CPI: stdev 0, floored at 5 %. 0.8, 1.0, 0.8, 1.0: stdev
    0.115470 / mean 0.9 = 12.83 % (above the floor).
    Constant history on M1 (10000 due 30 April, 9000 available): sd = 10000 x 5 % = 500,
    risk = 1 - Phi((9000 - 10000) / 500) = 1 - Phi(-2) = 0.977250 (without the floor: sd 0 and a certain 1)."""
    assert coefficient_of_variation([Decimal("0.9")] * 3) == DEFAULT_CV == Decimal("0.15")
    assert coefficient_of_variation([Decimal("1.0")] * 8) == CV_FLOOR == Decimal("0.05")
    assert coefficient_of_variation([Decimal("0.8"), Decimal("1.0"), Decimal("0.8"), Decimal("1.0")]) == Decimal(
        "0.1283"
    )
    facts = [registered(), started(), milestone(1, "10000.00", date(2027, 4, 30)), secured("9000.00", date(2027, 1, 1))]
    (m1,) = risks_of(facts, history=[Decimal("1.0")] * 8)
    assert m1.cv == Decimal("0.05") and m1.spread == Decimal("500.0000") and m1.probability == Decimal("0.97725")


# --- funding: secured, withdrawn, planned -----------------------------------------------------------------------


def test_planned_tranches_never_count_withdrawn_ones_count_until_withdrawn_and_what_planned_funding_would_change() -> (
    None
):
    """M1 4000 due 10 April, M2 6000 due 30 April; nothing earned or spent (CPI 1, cv 15 %).
    Tranches: T1 6000 secured (January); T2 3000 secured (January) withdrawn 20 April; T3 2000 planned for 1 April;
    T4 5000 planned for 15 May.
    M1 (10 April): needed 4000, sd 600, available T1 + T2 = 9000 (T2 not yet withdrawn): risk 0;
    funding needed = 4000 + 1.644854 x 600 = 4986.91, shortfall 0; planned by then: T3 = 2000.
    M2 (30 April): needed 10000, sd 1500, available T1 = 6000 (T2 withdrawn on 20 April; T3 planned only):
    risk = 1 - Phi(-2.666667) = 0.996170; funding needed = 10000 + 1.644854 x 1500 = 12467.28, shortfall 6467.28.
    If T3 (planned by 30 April; T4 comes later) were secured: available 8000, risk = 1 - Phi(-1.333333) = 0.908789,
    shortfall 4467.28."""
    facts = [
        registered(),
        started(),
        milestone(1, "4000.00", date(2027, 4, 10)),
        milestone(2, "6000.00", date(2027, 4, 30)),
    ]
    tranches = [
        tranche("6000", date(2027, 1, 1)),
        tranche("3000", date(2027, 1, 1), withdrawn_on=date(2027, 4, 20)),
        tranche("2000", date(2027, 4, 1), planned=True),
        tranche("5000", date(2027, 5, 15), planned=True),
    ]
    m1, m2 = risks_of(facts, tranches=tranches)
    assert m1.available == Decimal("9000") and m1.probability == 0 and m1.shortfall == 0
    assert cents(m1.funding_needed) == Decimal("4986.91") and m1.planned_funding == Decimal("2000")
    assert m2.available == Decimal("6000") and m2.probability == Decimal("0.99617")
    assert cents(m2.funding_needed) == Decimal("12467.28") and cents(m2.shortfall) == Decimal("6467.28")
    assert m2.planned_funding == Decimal("2000") and m2.probability_if_planned_secured == Decimal("0.908789")
    assert cents(m2.shortfall_if_planned_secured) == Decimal("4467.28")
    s = summary([m1, m2], Decimal("0.05"))
    assert (s.assessed, s.at_risk, cents(s.to_secure)) == (2, 1, Decimal("6467.28"))  # the larger, not the sum


def test_the_funding_needed_is_the_quantile_of_the_alert_threshold_and_at_risk_means_a_shortfall() -> None:
    """z(95 %) = 1.644854 and z(90 %) = 1.281552 (``NormalDist().inv_cdf``). M1 unfunded (needed 10000, sd 1500,
    available 4000) at a 10 % threshold: funding needed = 10000 + 1.281552 x 1500 = 11922.33, shortfall 7922.33.
    A milestone is at risk (risk > threshold) exactly when its shortfall is positive: with 12400 available the risk is
    1 - Phi(2400 / 1500 = 1.6) = 0.054799 > 5 % and 12467.28 - 12400 = 67.28 is short; at 12500,
    1 - Phi(1.666667) = 0.047790 and 0."""
    assert abs(z_score(Decimal("0.05")) - Decimal("1.644854")) < Decimal("0.000001")
    assert abs(z_score(Decimal("0.10")) - Decimal("1.281552")) < Decimal("0.000001")
    assert z_score(Decimal(0)) == z_score(Decimal("0.0001"))  # a limit of 0 has no finite quantile: never a 5xx
    (m1,) = risks_of(M1_UNFUNDED, limit=Decimal("0.10"))
    assert cents(m1.funding_needed) == Decimal("11922.33") and cents(m1.shortfall) == Decimal("7922.33")
    assert cents(m1.shortfall_at(Decimal("0.05"))) == Decimal("8467.28")
    for extra, at_risk, shortfall in (("8400.00", True, "67.28"), ("8500.00", False, "0.00")):
        (m1,) = risks_of([*M1_UNFUNDED, secured(extra, date(2027, 1, 1))])
        assert m1.at_risk(Decimal("0.05")) is at_risk and cents(m1.shortfall) == Decimal(shortfall)
        assert m1.probability == (Decimal("0.054799") if at_risk else Decimal("0.04779"))


# --- reports ------------------------------------------------------------------------------------------------------


def now() -> datetime:
    return datetime(2027, 3, 15, 12, tzinfo=UTC)


async def test_the_project_report_shows_the_funding_needed_and_the_portfolio_its_share_of_milestones_at_risk() -> None:
    """M1 unfunded as above (overdue, needed 10000, sd 1500, 4000 available): the project report shows
    funding_needed_p95 12467.28 and shortfall 8467.28; the portfolio: 1 milestone assessed, 1 at risk (share 1),
    8467.28 EUR to secure; at a 10 % threshold for portfolio "pf": 11922.33 - 4000 = 7922.33."""
    facts = FakeFacts(M1_UNFUNDED)
    _, report = await handlers.project_report(facts, now, PID, DAY, None)
    (risk,) = report["underfunding_risk"]
    assert (risk["funding_needed_p95"], risk["shortfall"], risk["overdue"]) == ("12467.28", "8467.28", True)
    assert (risk["probability"], risk["risk_limit"], risk["inputs"]["cv"]) == ("1.0000", "0.0500", "0.1500")
    assert risk["if_planned_funding_secured"] == {
        "planned_funding": "0.00",
        "probability": "1.0000",
        "shortfall": "8467.28",
    }
    _, rows, answer = await handlers.portfolio_report(
        facts, now, {}, as_of=DAY, portfolio_id=None, programme_id=None, known_at=None
    )
    assert answer["underfunding_risk"] == {
        "milestones_assessed": 1,
        "milestones_at_risk": 1,
        "share_at_risk": "1.0000",
        "reason": None,
        "to_secure": [{"currency": "EUR", "amount": "8467.28"}],
    }
    assert (rows[0]["milestones_assessed"], rows[0]["milestones_at_risk"], rows[0]["to_secure"]) == (1, 1, "8467.28")
    known = await handlers.portfolio_report(
        facts, now, None, as_of=DAY, portfolio_id=None, programme_id=None, known_at=now()
    )
    assert known[2]["underfunding_risk"] == answer["underfunding_risk"]  # as known now: the same
    headline = handlers.headline(PID, handlers.folded_on(PID, M1_UNFUNDED), DAY)
    _, totals = views.portfolio_lines([headline], None, None, {"pf": Decimal("0.10")})
    assert totals[0]["to_secure"] == "7922.33" and totals[0]["milestones_at_risk"] == 1


def test_a_portfolio_without_a_milestone_to_assess_says_why_its_share_is_undefined() -> None:
    """A completed project's line: nothing assessed, share undefined with its reason, nothing to secure."""
    done = lifecycle(p.ProjectCompleted(project_id=PID, completed_on=date(2027, 3, 1), note=""), date(2027, 3, 1))
    facts = [*M1_UNFUNDED, done]
    books: ProjectBook = book(PID, facts, DAY)
    _, totals = views.portfolio_lines([handlers.headline(PID, handlers.folded_on(PID, facts), DAY)], None, None)
    assert books.status == "completed"
    assert views.underfunding_share(totals) == {
        "milestones_assessed": 0,
        "milestones_at_risk": 0,
        "share_at_risk": None,
        "reason": "no open milestone of a project that can still spend",
        "to_secure": [{"currency": "EUR", "amount": "0.00"}],
    }


def test_a_planned_tranche_from_the_budget_topic_counts_only_once_secured() -> None:
    """M1: 10000 due 30 April, 4000 secured; 7000 planned (``funding-planned``) for 1 April.
    Planned: available 4000, risk = 1 - Phi(-4) = 0.999968; if secured: 11000, risk = 1 - Phi(0.666667) = 0.252493,
    shortfall = 12467.28 - 11000 = 1467.28. Secured later under the same tranche id: available 11000, the same."""
    tranche_id = uuid.uuid4()
    plan = [registered(), started(), milestone(1, "10000.00", date(2027, 4, 30)), secured("4000.00", date(2027, 1, 1))]
    planned = fact(
        b.FundingPlanned(
            project_id=PID,
            source_id=uuid.uuid4(),
            tranche_id=tranche_id,
            amount=eur("7000.00"),
            expected_on=date(2027, 4, 1),
            planned_by="f",
        ),
        date(2027, 2, 1),
    )
    (m1,) = risks_of([*plan, planned])
    assert (m1.available, m1.planned_funding, m1.probability) == (
        Decimal("4000.00"),
        Decimal("7000.00"),
        Decimal("0.999968"),
    )
    assert m1.probability_if_planned_secured == Decimal("0.252493")
    assert cents(m1.shortfall_if_planned_secured) == Decimal("1467.28")
    secured_later = fact(
        b.FundingSecured(
            project_id=PID,
            source_id=uuid.uuid4(),
            tranche_id=tranche_id,
            amount=eur("7000.00"),
            available_on=date(2027, 4, 1),
        ),
        date(2027, 3, 1),
    )
    (m1,) = risks_of([*plan, planned, secured_later])
    assert (m1.available, m1.planned_funding, m1.probability) == (Decimal("11000.00"), Decimal(0), Decimal("0.252493"))
