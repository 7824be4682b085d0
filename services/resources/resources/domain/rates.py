"""Cost rates: effective-dated hourly rates, and the ``role-rate`` aggregate (one per role: the role's default
rates, used on days a resource has no rate of its own, all in one currency)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import assert_never

from resources.domain.checks import not_blank
from shared.contracts.resources import RoleRateSet
from shared.decider import Decider
from shared.errors import InvalidCommandError
from shared.events import DomainEvent
from shared.money import Money


@dataclass(frozen=True)
class Rate:
    """An hourly cost rate from ``effective_from`` until the next rate's date."""

    effective_from: date
    hourly_rate: Money


def rate_on(rates: Sequence[Rate], day: date) -> Rate | None:
    """The rate in force on ``day``: the one with the latest ``effective_from`` not after it."""
    found = None
    for rate in rates:
        if rate.effective_from > day:
            break
        found = rate
    return found


def with_rate(rates: Sequence[Rate], rate: Rate) -> tuple[Rate, ...]:
    """``rates`` with ``rate`` added, replacing one of the same date, by effective date."""
    kept = [r for r in rates if r.effective_from != rate.effective_from]
    return tuple(sorted([*kept, rate], key=lambda r: r.effective_from))


def same_day(rates: Sequence[Rate], effective_from: date) -> Rate | None:
    """The rate a new one from ``effective_from`` replaces, if any."""
    return next((r for r in rates if r.effective_from == effective_from), None)


# --- the role-rate aggregate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleRateCard:
    """A role's default rates (the state of a ``role-rate`` aggregate, and what a sheet command carries)."""

    role: str | None = None
    rates: tuple[Rate, ...] = ()


@dataclass(frozen=True)
class SetRoleRate:
    role: str
    effective_from: date
    hourly_rate: Money


RoleRateEvent = RoleRateSet
"""Every event of a role-rate stream."""


def _evolve_role_rate(state: RoleRateCard, event: DomainEvent) -> RoleRateCard:
    if not isinstance(event, RoleRateEvent):
        return state  # another aggregate's event
    match event:
        case RoleRateSet():
            return RoleRateCard(event.role, with_rate(state.rates, Rate(event.effective_from, event.hourly_rate)))
        case _:
            assert_never(event)


def _decide_role_rate(state: RoleRateCard, command: SetRoleRate, now: datetime) -> Sequence[DomainEvent]:
    not_blank(command.role, "role")
    if command.hourly_rate.amount < 0:
        raise InvalidCommandError("hourly_rate must not be negative", field="hourly_rate.amount")
    if state.rates and state.rates[0].hourly_rate.currency != command.hourly_rate.currency:
        currency = state.rates[0].hourly_rate.currency
        raise InvalidCommandError(
            f"role {command.role} has its default rates in {currency}", field="hourly_rate.currency"
        )
    replaced = same_day(state.rates, command.effective_from)
    return [
        RoleRateSet(
            role=command.role,
            effective_from=command.effective_from,
            hourly_rate=command.hourly_rate,
            replaces_rate=replaced.hourly_rate if replaced else None,
        )
    ]


ROLE_RATE: Decider[RoleRateCard, SetRoleRate] = Decider("role-rate", RoleRateCard, _evolve_role_rate, _decide_role_rate)
"""A role's default cost rates, effective-dated, all in one currency."""


def role_rate_stream(role: str) -> str:
    return f"role-rate-{role}"
