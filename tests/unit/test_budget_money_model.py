"""The budget's money model: amounts in other currencies booked in the project's, planned funding and estimates to
complete, and the handlers reading the rates through the facts. Given events (or facts), when a command, then events
or the error; every expected figure computed by hand in the comment beside it."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from budget import domain, handlers
from shared.auth import ForbiddenError
from shared.contracts import budget as ev
from shared.contracts.budget import CategoryEstimate, CostCategory, OverrunPolicy
from shared.contracts.common import MonthAmount
from shared.errors import InvalidCommandError, NotFoundError
from shared.money import Money
from tests.support.budget import (
    BASELINED_ON,
    PID,
    TODAY,
    FakeBudgetFacts,
    Scenario,
    baselined,
    baselined_event,
    commit,
    policy_set,
    rate_in_force,
    recorded_rate,
    source_added,
)
from tests.support.fakes import InMemoryExecutor, acting_as
from tests.support.money import eur, usd

STREAM = domain.stream_id(PID)


S1, T1, T2 = uuid.UUID(int=31), uuid.UUID(int=32), uuid.UUID(int=33)

PAUL, MIA, PAT = acting_as("paul.finance"), acting_as("mia.manager"), acting_as("pat.pmo")


# --- commitments and funding in another currency ------------------------------------------------------------


def test_a_commitment_in_another_currency_counts_for_its_booked_amount_against_the_category() -> None:
    s = baselined()  # subcontracting budget 40,000.00 EUR
    s.when(domain.SetOverrunPolicy(OverrunPolicy.BLOCK, "carl"))
    at_092 = rate_in_force("USD", "EUR", "0.92", date(2027, 2, 1))
    (committed,) = s.when(commit("0", money=usd("43000.00"), rate=at_092))  # 43,000 x 0.92 = 39,560.00 EUR
    assert isinstance(committed, ev.BudgetCommitted) and committed.overrun is None
    assert committed.amount == usd("43000.00")
    assert committed.booked is not None and committed.booked.amount == eur("39560.00")
    assert committed.booked.rate == Decimal("0.92") and committed.booked.rate_on == date(2027, 2, 1)
    assert s.state.committed(CostCategory.SUBCONTRACTING) == eur("39560.00")
    s.when(commit("440.00"))  # 39,560 + 440 = 40,000.00: at the budget, not past it
    with pytest.raises(domain.OverrunRefusedError, match=r"exceeded by 0\.01 EUR"):
        s.when(commit("0.01"))


def test_a_commitment_in_another_currency_without_a_rate_is_refused() -> None:
    with pytest.raises(InvalidCommandError, match="no USD->EUR rate in force on 2027-03-01") as error:
        baselined().when(commit("0", money=usd("100.00")))
    assert error.value.field == "amount.currency"


def test_a_commitment_is_adjusted_in_its_own_currency_booked_at_the_days_rate() -> None:
    s = baselined()
    cid = uuid.uuid4()
    s.when(commit("0", cid=cid, money=usd("10000.00"), rate=rate_in_force("USD", "EUR", "0.92", date(2027, 2, 1))))
    with pytest.raises(InvalidCommandError) as error:
        s.when(domain.AdjustCommitment(cid, eur("9000.00"), (), "in euros", TODAY))
    assert error.value.field == "amount.currency"
    later = rate_in_force("USD", "EUR", "0.95", date(2027, 3, 1))
    (adjusted,) = s.when(domain.AdjustCommitment(cid, usd("12000.00"), (), "extra scope", TODAY, later))
    assert isinstance(adjusted, ev.CommitmentAdjusted) and adjusted.previous_amount == usd("10000.00")
    assert adjusted.booked is not None and adjusted.booked.amount == eur("11400.00")  # 12,000 x 0.95
    assert s.state.committed(CostCategory.SUBCONTRACTING) == eur("11400.00")


def test_expected_invoices_are_in_the_commitments_currency() -> None:
    command = commit("0", money=usd("1000.00"), rate=rate_in_force("USD", "EUR", "0.92", date(2027, 2, 1)))
    in_eur = domain.Commit(
        **{**command.__dict__, "expected_invoices": (ev.InvoiceExpectation(on=TODAY, amount=eur("10.00")),)}
    )
    with pytest.raises(InvalidCommandError) as error:
        baselined().when(in_eur)
    assert error.value.field == "expected_invoices.0.amount.currency"


def funded() -> Scenario:
    return baselined().given(domain.AddFundingSource(S1, "EU grant", ev.FundingKind.GRANT))


def test_a_tranche_in_another_currency_is_booked_at_the_rate_in_force_on_its_available_date() -> None:
    s = funded()
    rate = rate_in_force("USD", "EUR", "0.9", date(2027, 5, 1))
    (secured,) = s.when(domain.SecureFunding(S1, T1, usd("50000.00"), date(2027, 6, 1), rate))
    assert isinstance(secured, ev.FundingSecured) and secured.booked is not None
    assert secured.booked.amount == eur("45000.00")  # 50,000 x 0.9
    assert s.state.funding_available(date(2027, 6, 1)) == eur("45000.00")
    with pytest.raises(InvalidCommandError) as error:
        s.when(domain.SecureFunding(S1, T2, usd("1.00"), date(2027, 6, 1)))
    assert error.value.field == "amount.currency"


# --- planned funding ------------------------------------------------------------------------------------------


def test_a_planned_tranche_never_counts_as_available_until_it_is_secured_then_counts_from_its_date() -> None:
    s = funded()
    (planned,) = s.when(domain.PlanFunding(S1, T1, eur("50000.00"), date(2027, 6, 1), "fiona"))
    assert isinstance(planned, ev.FundingPlanned) and planned.booked is None and planned.planned_by == "fiona"
    assert s.state.funding_available(date(2027, 12, 31)) == eur("0.00")
    assert s.state.total(s.state.tranches_planned(date(2027, 3, 1))) == eur("50000.00")
    (secured,) = s.when(domain.SecurePlannedFunding(T1, eur("45000.00"), date(2027, 5, 15)))
    assert isinstance(secured, ev.FundingSecured) and (secured.tranche_id, secured.source_id) == (T1, S1)
    assert s.state.funding_available(date(2027, 5, 14)) == eur("0.00")
    assert s.state.funding_available(date(2027, 5, 15)) == eur("45000.00")
    assert s.state.tranches_planned(date(2027, 3, 1)) == []
    with pytest.raises(domain.TrancheSecuredError):
        s.when(domain.SecurePlannedFunding(T1, eur("45000.00"), date(2027, 5, 15)))
    (withdrawn,) = s.when(domain.WithdrawFunding(T1, date(2027, 7, 1), "grant clawed back"))
    assert isinstance(withdrawn, ev.FundingWithdrawn) and withdrawn.was_available is True
    assert s.state.funding_available(date(2027, 6, 30)) == eur("45000.00")
    assert s.state.funding_available(date(2027, 7, 1)) == eur("0.00")


def test_a_planned_tranche_is_dropped_by_a_withdrawal_that_was_never_available() -> None:
    s = funded()
    s.when(domain.PlanFunding(S1, T1, eur("20000.00"), date(2027, 2, 1), "fiona"))  # expected in the past
    (dropped,) = s.when(domain.WithdrawFunding(T1, date(2027, 3, 1), "sponsor declined"))
    assert isinstance(dropped, ev.FundingWithdrawn) and dropped.was_available is False
    assert dropped.amount == eur("20000.00")
    assert s.state.total(s.state.tranches_planned(date(2027, 2, 28))) == eur("20000.00")  # history kept
    assert s.state.tranches_planned(date(2027, 3, 1)) == []
    with pytest.raises(domain.TrancheWithdrawnError):
        s.when(domain.SecurePlannedFunding(T1, eur("20000.00"), date(2027, 4, 1)))


def test_a_planned_tranche_in_another_currency_is_booked_on_its_expected_date_and_rescheduling_keeps_it() -> None:
    s = funded()
    inverse = domain.in_force("USD", "EUR", None, recorded_rate("EUR", "USD", "1.0843", date(2027, 1, 1)))
    (planned,) = s.when(domain.PlanFunding(S1, T1, usd("250000.00"), date(2027, 6, 1), "fiona", inverse))
    assert isinstance(planned, ev.FundingPlanned) and planned.booked is not None
    # 250,000 / 1.0843 = 230,563.4971871253... -> 230,563.50 EUR
    assert planned.booked.amount == eur("230563.50")
    s.when(domain.RescheduleFunding(T1, date(2027, 9, 1), "call delayed"))
    assert s.state.total(s.state.tranches_planned(TODAY)) == eur("230563.50")
    with pytest.raises(InvalidCommandError, match="no USD->EUR rate"):
        s.when(domain.PlanFunding(S1, T2, usd("1.00"), date(2027, 6, 1), "fiona"))


def test_planning_from_an_unknown_source_is_refused() -> None:
    with pytest.raises(NotFoundError) as unknown:
        funded().when(domain.PlanFunding(uuid.uuid4(), T1, eur("1.00"), date(2027, 6, 1), "fiona"))
    assert unknown.value.field == "source_id"
    with pytest.raises(InvalidCommandError) as zero:
        funded().when(domain.PlanFunding(S1, T1, eur("0.00"), date(2027, 6, 1), "fiona"))
    assert zero.value.field == "amount.amount"


# --- estimates to complete ------------------------------------------------------------------------------------


def estimate(
    categories: tuple[tuple[CostCategory, Money], ...] = (
        (CostCategory.LABOUR, eur("30000.00")),
        (CostCategory.MATERIALS, eur("12500.50")),
    ),
    months: tuple[tuple[str, Money], ...] = (("2027-04", eur("22500.50")), ("2027-03", eur("20000.00"))),
    as_of: date = TODAY,
) -> domain.SubmitEstimate:
    """42,500.50 EUR: 30,000.00 labour + 12,500.50 materials; March 20,000.00 and April 22,500.50."""
    return domain.SubmitEstimate(
        estimate_id=uuid.UUID(int=41),
        as_of=as_of,
        categories=tuple(CategoryEstimate(category=c, amount=a) for c, a in categories),
        months=tuple(MonthAmount(month=m, amount=a) for m, a in months),
        note="after the design review",
        submitted_by="mia.manager",
        baselined_on=BASELINED_ON,
    )


def test_an_estimate_totals_its_categories_and_its_months_add_up_to_it() -> None:
    s = baselined()
    (event,) = s.when(estimate())
    assert isinstance(event, ev.EstimateToCompleteSubmitted)
    assert event.total == eur("42500.50") and event.as_of == TODAY and event.submitted_by == "mia.manager"
    assert [m.month for m in event.months] == ["2027-03", "2027-04"]
    assert s.state.estimate == event


def test_a_zero_estimate_without_months_is_a_finished_project() -> None:
    (event,) = baselined().when(estimate(categories=((CostCategory.LABOUR, eur("0")),), months=()))
    assert isinstance(event, ev.EstimateToCompleteSubmitted) and event.total == eur("0.00")


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (estimate(months=(("2027-03", eur("20000.00")), ("2027-04", eur("22500.49")))), "months"),
        (estimate(months=()), "months"),
        (estimate(months=(("2027-03", eur("20000.00")), ("2027-03", eur("22500.50")))), "months.1"),
        (estimate(months=(("2027-02", eur("20000.00")), ("2027-04", eur("22500.50")))), "months.0.month"),
        (estimate(months=(("2027-03", eur("-1.00")), ("2027-04", eur("42501.50")))), "months.0.amount.amount"),
        (estimate(months=(("2027-03", usd("20000.00")), ("2027-04", eur("22500.50")))), "months.0.amount.currency"),
        (estimate(categories=((CostCategory.LABOUR, eur("1.00")), (CostCategory.LABOUR, eur("2.00")))), "categories.1"),
        (estimate(categories=((CostCategory.LABOUR, eur("-1.00")),)), "categories.0.amount.amount"),
        (estimate(categories=((CostCategory.LABOUR, usd("1.00")),)), "categories.0.amount.currency"),
        (estimate(as_of=date(2027, 3, 2)), "as_of"),
        (estimate(as_of=date(2027, 1, 3)), "as_of"),
    ],
)
def test_a_bad_estimate_is_refused_naming_the_field(command: domain.SubmitEstimate, field: str) -> None:
    s = baselined()
    with pytest.raises(InvalidCommandError) as error:
        s.when(command)
    assert error.value.field == field
    assert s.state.estimate is None


# --- the handlers: rates read through the facts, nothing appended on refusal ---------------------------------


def baselined_budget(*events: domain.BudgetEvent) -> InMemoryExecutor:
    executor = InMemoryExecutor()
    executor.given(STREAM, baselined_event(), *events)
    return executor


async def commit_usd(executor: InMemoryExecutor, facts: FakeBudgetFacts, amount: str) -> handlers.Outcome:
    return await handlers.commit(
        executor,
        facts,
        PAUL,
        PID,
        kind=ev.CommitmentKind.PURCHASE_ORDER,
        vendor="Globex Inc.",
        reference=uuid.uuid4().hex[:8],
        category=CostCategory.MATERIALS,
        milestone_id=None,
        amount=usd(amount),
        expected_invoices=(),
    )


async def test_a_usd_commitment_on_a_eur_project_is_booked_at_the_rate_in_force_on_the_day_it_is_recorded() -> None:
    executor = baselined_budget()
    facts = FakeBudgetFacts().knows().rate("USD", "EUR", "0.91", date(2027, 1, 1)).rate("USD", "EUR", "0.92", TODAY)
    facts.rate("USD", "EUR", "0.99", date(2027, 3, 2))  # tomorrow's: not in force yet
    outcome = await commit_usd(executor, facts, "1000.00")
    (event,) = executor.appended(STREAM)[1:]
    assert isinstance(event, ev.BudgetCommitted) and event.booked is not None
    assert event.booked.amount == eur("920.00") and event.booked.rate_on == TODAY  # 1,000 x 0.92
    assert outcome.body["amount"] == {"amount": "1000.00", "currency": "USD"}
    assert outcome.body["booked"] == {"amount": "920.00", "currency": "EUR"}
    assert outcome.body["booking"]["rate"] == "0.92"


async def test_a_usd_commitment_is_booked_at_the_inverse_of_the_eur_usd_rate_when_only_that_one_is_recorded() -> None:
    executor = baselined_budget()
    facts = FakeBudgetFacts().knows().rate("EUR", "USD", "1.0843", date(2027, 2, 1))
    outcome = await commit_usd(executor, facts, "1000.00")
    assert outcome.body["booked"] == {"amount": "922.25", "currency": "EUR"}  # 1,000 / 1.0843 = 922.2539...


async def test_a_usd_commitment_without_any_rate_is_refused_and_nothing_is_appended() -> None:
    executor = baselined_budget()
    facts = FakeBudgetFacts().knows().rate("USD", "EUR", "0.92", date(2027, 3, 2))  # only from tomorrow
    with pytest.raises(InvalidCommandError, match="no USD->EUR rate in force on 2027-03-01") as error:
        await commit_usd(executor, facts, "1000.00")
    assert error.value.field == "amount.currency"
    assert len(executor.appended(STREAM)) == 1  # the baseline only


async def test_a_usd_commitment_awaiting_approval_is_booked_at_the_rate_of_the_day_it_is_approved() -> None:
    executor = baselined_budget(policy_set(OverrunPolicy.REQUIRE_APPROVAL))
    facts = FakeBudgetFacts().knows().rate("USD", "EUR", "0.9", date(2027, 1, 1))
    pending = await commit_usd(executor, facts, "10000.00")  # no materials budget: 9,000 EUR over
    assert pending.body["status"] == "awaiting_approval" and pending.body["booked"] is None
    assert pending.body["overrun"]["over_by"] == {"amount": "9000.00", "currency": "EUR"}
    executor.clock.at = executor.clock.at.replace(day=15)
    facts.rate("USD", "EUR", "0.95", date(2027, 3, 10))
    approved = await handlers.approve_commitment(
        executor, facts, acting_as("fiona"), PID, uuid.UUID(pending.body["commitment_id"])
    )
    assert approved.body["status"] == "committed"
    assert approved.body["booked"] == {"amount": "9500.00", "currency": "EUR"}  # 10,000 x 0.95
    event = executor.appended(STREAM)[-1]
    assert isinstance(event, ev.BudgetCommitted) and event.booked is not None
    assert event.booked.rate_on == date(2027, 3, 10)


async def test_funding_is_planned_secured_and_shown_apart_in_the_funding_view() -> None:
    executor = baselined_budget(source_added(S1))
    facts = FakeBudgetFacts().knows().rate("USD", "EUR", "0.9", date(2027, 1, 1))
    planned = await handlers.plan_funding(
        executor, facts, PAUL, PID, S1, amount=usd("10000.00"), expected_on=date(2027, 6, 1)
    )
    assert planned.status_code == 201 and planned.body["status"] == "planned"
    assert planned.body["expected_on"] == "2027-06-01" and "available_on" not in planned.body
    assert planned.body["booked"] == {"amount": "9000.00", "currency": "EUR"}
    tranche_id = uuid.UUID(planned.body["tranche_id"])
    other = await handlers.secure_funding(
        executor, facts, PAUL, PID, S1, amount=eur("5000.00"), available_on=date(2027, 4, 1)
    )
    view = await handlers.funding_on(executor, executor.clock, PID, date(2027, 3, 1))
    assert view["available"] == {"amount": "0.00", "currency": "EUR"}
    assert view["secured_later"] == {"amount": "5000.00", "currency": "EUR"}
    assert view["planned"] == {"amount": "9000.00", "currency": "EUR"}
    assert [t["tranche_id"] for t in view["planned_tranches"]] == [str(tranche_id)]
    assert [t["tranche_id"] for t in view["secured_later_tranches"]] == [other.body["tranche_id"]]
    secured = await handlers.secure_planned_funding(
        executor, facts, PAUL, PID, tranche_id, amount=usd("8000.00"), available_on=date(2027, 5, 1)
    )
    assert secured.body["status"] == "secured" and secured.body["booked"] == {"amount": "7200.00", "currency": "EUR"}
    view = await handlers.funding_on(executor, executor.clock, PID, date(2027, 5, 1))
    assert view["available"] == {"amount": "12200.00", "currency": "EUR"}  # 5,000 + 8,000 x 0.9
    assert view["planned"] == {"amount": "0.00", "currency": "EUR"}


async def estimate_by(
    ctx_name: str, facts: FakeBudgetFacts, executor: InMemoryExecutor, *, pmo: bool = False
) -> handlers.Outcome:
    return await handlers.submit_estimate(
        executor,
        facts,
        acting_as(ctx_name),
        PID,
        as_of=None,
        categories=[CategoryEstimate(category=CostCategory.LABOUR, amount=eur("1000.00"))],
        months=[MonthAmount(month="2027-03", amount=eur("1000.00"))],
        note="",
        for_any_project=pmo,
    )


async def test_an_estimate_is_submitted_by_the_projects_manager_or_the_pmo_and_nobody_else() -> None:
    executor = baselined_budget()
    facts = FakeBudgetFacts().knows(manager="mia.manager")
    outcome = await estimate_by("MIA.manager", facts, executor)  # the manager, however spelt
    assert outcome.status_code == 201 and outcome.body["total"] == {"amount": "1000.00", "currency": "EUR"}
    assert outcome.body["as_of"] == "2027-03-01" and outcome.body["submitted_by"] == "MIA.manager"
    with pytest.raises(ForbiddenError):
        await estimate_by("paul.finance", facts, executor)
    assert len(executor.appended(STREAM)) == 2
    by_pmo = await estimate_by("pat.pmo", facts, executor, pmo=True)
    assert by_pmo.body["submitted_by"] == "pat.pmo" and len(executor.appended(STREAM)) == 3


async def test_an_estimate_needs_a_baseline_and_a_project_without_a_known_manager_takes_it_from_the_pmo_only() -> None:
    executor = InMemoryExecutor()
    facts = FakeBudgetFacts().knows(baselined_on=None)
    with pytest.raises(NotFoundError, match="no budget baseline"):
        await estimate_by("pat.pmo", facts, executor, pmo=True)
    facts = FakeBudgetFacts().knows(manager=None)
    with pytest.raises(ForbiddenError):
        await estimate_by("mia.manager", facts, baselined_budget())


async def test_recording_a_rate_again_replaces_it_and_the_same_rate_again_appends_nothing() -> None:
    executor = InMemoryExecutor()
    fiona = acting_as("fiona.finance")

    async def put(rate: str) -> handlers.Outcome:
        return await handlers.record_exchange_rate(
            executor, fiona, base="EUR", quote="USD", effective_on=TODAY, rate=Decimal(rate), source="ECB"
        )

    first = await put("1.0843")
    assert first.body == {
        "base": "EUR",
        "quote": "USD",
        "effective_on": "2027-03-01",
        "rate": "1.0843",
        "source": "ECB",
        "recorded": True,
        "replaces_rate": None,
        "version": 1,
    }
    replaced = await put("1.0850")
    assert replaced.body["replaces_rate"] == "1.0843" and replaced.body["version"] == 2
    again = await put("1.0850")
    assert again.body["recorded"] is False and again.body["version"] == 2 and again.events == []
    assert len(executor.appended("fx-EUR-USD")) == 2


async def test_the_rate_in_force_is_read_back_recorded_or_inverted_and_404_without_one() -> None:
    facts = (
        FakeBudgetFacts().rate("EUR", "USD", "1.0843", date(2027, 2, 1)).rate("EUR", "USD", "1.09", date(2027, 4, 1))
    )
    clock = InMemoryExecutor().clock
    direct = await handlers.exchange_rate_on(facts, clock, "EUR", "USD", None)
    assert (direct["rate"], direct["effective_on"], direct["inverse_of"]) == ("1.0843", "2027-02-01", None)
    inverse = await handlers.exchange_rate_on(facts, clock, "USD", "EUR", date(2027, 4, 1))
    assert inverse["inverse_of"] == {"base": "EUR", "quote": "USD", "rate": "1.09"}
    assert inverse["rate"].startswith("0.917431192660550458715596330275229357798165137614678899082568807339")
    with pytest.raises(NotFoundError):
        await handlers.exchange_rate_on(facts, clock, "EUR", "USD", date(2027, 1, 31))


def test_a_change_request_or_baseline_stays_in_the_projects_currency() -> None:
    with pytest.raises(InvalidCommandError, match="nothing is converted"):
        baselined().when(domain.RequestChange(uuid.uuid4(), CostCategory.LABOUR, usd("5.00"), "x", "paul"))
