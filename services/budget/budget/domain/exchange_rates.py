"""Exchange rates: the ``exchange-rate`` aggregate, one stream per currency pair (``fx-<base>-<quote>``), kept by
finance and the PMO and published on ``pmo.budget.v1`` under the key ``fx:<base>-<quote>``.

A pair holds one rate per effective date: from ``effective_on`` on (until the next date), 1 ``base`` = ``rate``
``quote``. Recording the pair and date again replaces the rate (``replaces_rate``); the same rate from the same
source again changes nothing (no event).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import assert_never

from budget.domain.conversion import RecordedRate
from shared.contracts.budget import ExchangeRateRecorded
from shared.decider import Decider
from shared.errors import InvalidCommandError
from shared.events import DomainEvent
from shared.immutable import frozen
from shared.money import minor_unit


@dataclass(frozen=True)
class RecordExchangeRate:
    base: str
    quote: str
    effective_on: date
    rate: Decimal
    source: str
    recorded_by: str


@dataclass(frozen=True)
class ExchangeRatePair:
    """The rates of one currency pair by effective date (the state of an ``exchange-rate`` aggregate)."""

    base: str = ""
    quote: str = ""
    rates: Mapping[date, RecordedRate] = field(default_factory=lambda: frozen({}))


ExchangeRateEvent = ExchangeRateRecorded
"""Every event of an exchange-rate stream."""


def _decide(state: ExchangeRatePair, command: RecordExchangeRate, now: datetime) -> Sequence[DomainEvent]:
    for name in ("base", "quote"):
        try:
            minor_unit(getattr(command, name))
        except ValueError as exc:
            raise InvalidCommandError(str(exc), field=name) from None
    if command.base == command.quote:
        raise InvalidCommandError("a rate converts one currency into another: base and quote differ", field="quote")
    if command.rate <= 0:
        raise InvalidCommandError("rate must be greater than zero", field="rate")
    if not command.source.strip():
        raise InvalidCommandError("source names where the rate comes from", field="source")
    current = state.rates.get(command.effective_on)
    if current is not None and current.rate == command.rate and current.source == command.source:
        return []
    return [
        ExchangeRateRecorded(
            base=command.base,
            quote=command.quote,
            rate=command.rate,
            effective_on=command.effective_on,
            source=command.source,
            recorded_by=command.recorded_by,
            replaces_rate=current.rate if current is not None else None,
        )
    ]


def _evolve(state: ExchangeRatePair, event: DomainEvent) -> ExchangeRatePair:
    if not isinstance(event, ExchangeRateEvent):
        return state  # another aggregate's event
    match event:
        case ExchangeRateRecorded():
            rate = RecordedRate(event.base, event.quote, event.rate, event.effective_on, event.source)
            return replace(
                state, base=event.base, quote=event.quote, rates=frozen({**state.rates, event.effective_on: rate})
            )
        case _:
            assert_never(event)


EXCHANGE_RATE: Decider[ExchangeRatePair, RecordExchangeRate] = Decider(
    "exchange-rate", ExchangeRatePair, _evolve, _decide
)
"""One currency pair's rates by effective date."""


def fx_stream(base: str, quote: str) -> str:
    return f"fx-{base}-{quote}"
