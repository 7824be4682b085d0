"""The cost of work: each day's hours at the rate in force that day, the resource's own rate first, else its role's
default (:mod:`resources.domain.rates`); a subcontractor's accepted deliverables at their agreed amounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from resources.domain.rates import RoleRateCard, rate_on
from shared.contracts.resources import AcceptedDeliverable, CostedEntry, MilestoneCost, RateSource, TimeEntry
from shared.errors import InvalidCommandError
from shared.money import Money, quantize

if TYPE_CHECKING:
    from resources.domain.resource import Resource


class NoRateInForceError(InvalidCommandError):
    """A day worked has no cost rate: neither the resource's own nor its role's default in its currency."""


@dataclass(frozen=True)
class Priced:
    entries: tuple[CostedEntry, ...]
    cost: Money
    by_milestone: tuple[MilestoneCost, ...]


def price(
    state: Resource, entries: Sequence[TimeEntry], deliverables: Sequence[AcceptedDeliverable], role: RoleRateCard
) -> Priced:
    """Each entry at the rate in force that day (the resource's own, else its role's default) and the cost,
    half-even rounded to the currency's minor unit per entry; totals are exact sums. A day without a rate is
    refused, naming the entry."""
    currency = state.currency
    costed = []
    for i, entry in enumerate(entries):
        own = state.rate_on(entry.day)
        default = rate_on(role.rates, entry.day)
        if own is not None:
            rate, source = own, RateSource.RESOURCE
        elif default is not None and default.hourly_rate.currency == currency:
            rate, source = default, RateSource.ROLE
        elif default is not None:
            raise NoRateInForceError(
                f"no cost rate in force on {entry.day}: the resource has none and the default of role {state.role} "
                f"is in {default.hourly_rate.currency}, not {currency}",
                field=f"entries.{i}.day",
            )
        else:
            raise NoRateInForceError(
                f"no cost rate in force on {entry.day} for this resource nor for its role {state.role}; set a rate "
                "effective on or before that day",
                field=f"entries.{i}.day",
            )
        cost = quantize(entry.hours * rate.hourly_rate.amount, currency)
        costed.append(
            CostedEntry(
                day=entry.day,
                milestone_id=entry.milestone_id,
                hours=entry.hours,
                hourly_rate=rate.hourly_rate,
                rate_source=source,
                rate_effective_from=rate.effective_from,
                cost=Money(amount=cost, currency=currency),
            )
        )
    hours: dict[UUID | None, Decimal] = {}
    costs: dict[UUID | None, Decimal] = {}
    for c in costed:
        hours[c.milestone_id] = hours.get(c.milestone_id, Decimal(0)) + c.hours
        costs[c.milestone_id] = costs.get(c.milestone_id, Decimal(0)) + c.cost.amount
    for d in deliverables:
        hours.setdefault(d.milestone_id, Decimal(0))
        costs[d.milestone_id] = costs.get(d.milestone_id, Decimal(0)) + d.amount.amount
    order = sorted(costs, key=lambda m: (m is not None, str(m)))
    by_milestone = tuple(
        MilestoneCost(
            milestone_id=m, hours=hours[m], cost=Money(amount=quantize(costs[m], currency), currency=currency)
        )
        for m in order
    )
    total = quantize(sum(costs.values(), Decimal(0)), currency)
    return Priced(tuple(costed), Money(amount=total, currency=currency), by_milestone)
