"""A portfolio's alert thresholds: stricter ones apply at once, looser ones wait for a second person."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reporting.domain.alerts import THRESHOLDS, ApproveThresholds, PortfolioThresholds, SetThresholds
from reporting.domain.rules import Thresholds
from shared.contracts.alerts import AlertThresholdsChangeRequested, AlertThresholdsSet
from shared.errors import RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent

NOW = datetime(2027, 3, 1, tzinfo=UTC)
DEFAULTS = Thresholds().as_dict()


def given(*events: DomainEvent) -> PortfolioThresholds:
    state = THRESHOLDS.initial_state()
    for event in events:
        state = THRESHOLDS.evolve(state, event)
    return state


def set_by(who: str, **values: str) -> SetThresholds:
    return SetThresholds("digital", {**DEFAULTS, **values}, who)


def test_stricter_thresholds_apply_at_once() -> None:
    events = THRESHOLDS.decide(given(), set_by("pia", cpi_below="0.95", status_report_days="5"), NOW)
    assert [type(e) for e in events] == [AlertThresholdsSet]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("underfunding_risk", "0.2"),
        ("cpi_below", "0.5"),
        ("spi_below", "0.5"),
        ("vac_below_bac_share", "-0.5"),
        ("status_report_days", "30"),
        ("invoice_backing", "0.5"),
    ],
)
def test_a_looser_threshold_is_only_requested(name: str, value: str) -> None:
    events = THRESHOLDS.decide(given(), set_by("pia", **{name: value}), NOW)
    assert len(events) == 1
    requested = events[0]
    assert isinstance(requested, AlertThresholdsChangeRequested)
    assert requested.looser == [name]
    assert given(requested).in_force == {}  # the defaults stay in force


def test_another_person_approves_a_loosening_and_it_applies() -> None:
    requested = THRESHOLDS.decide(given(), set_by("pia", cpi_below="0.5"), NOW)
    approved = THRESHOLDS.decide(given(*requested), ApproveThresholds("digital", "olaf"), NOW)
    assert len(approved) == 1
    applied = approved[0]
    assert isinstance(applied, AlertThresholdsSet)
    assert (applied.set_by, applied.approved_by, applied.thresholds["cpi_below"]) == ("pia", "olaf", "0.5")
    assert given(*requested, applied).pending is None


@pytest.mark.parametrize("approver", ["pia", "PIA", "p\u0456a", "pi\u200ba"])
def test_the_requester_does_not_approve_her_own_loosening_however_spelt(approver: str) -> None:
    requested = THRESHOLDS.decide(given(), set_by("pia", cpi_below="0.5"), NOW)
    with pytest.raises(SeparationOfDutiesError):
        THRESHOLDS.decide(given(*requested), ApproveThresholds("digital", approver), NOW)


def test_nothing_to_approve_is_a_rule_violation() -> None:
    with pytest.raises(RuleViolationError):
        THRESHOLDS.decide(given(), ApproveThresholds("digital", "olaf"), NOW)
