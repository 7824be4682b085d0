"""The exchange rates of ``pmo.budget.v1`` kept by a service that books amounts in another currency (invoicing,
resources): the ``known_rates`` table and the consumer that fills it from ``exchange-rate-recorded``. One row per
pair and effective date; a rate recorded again for the same pair and date replaces it (a pair's events keep their
order on its key, ``fx:<base>-<quote>``). Which rate converts an amount on a day is
:func:`shared.contracts.common.converting_rate`'s rule; each service reads the rows it needs in its own queries."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import budget
from shared.kafka import ConsumedEvent

KNOWN_RATES_DDL = """
    CREATE TABLE IF NOT EXISTS known_rates (
        base         text NOT NULL,
        quote        text NOT NULL,
        effective_on date NOT NULL,
        rate         numeric NOT NULL,
        source       text NOT NULL,
        PRIMARY KEY (base, quote, effective_on)
    )
    """

_UPSERT = text(
    "INSERT INTO known_rates (base, quote, effective_on, rate, source) VALUES (:b, :q, :e, :r, :s) "
    "ON CONFLICT (base, quote, effective_on) DO UPDATE SET rate = excluded.rate, source = excluded.source"
)


class RatesReference:
    """Consumes ``exchange-rate-recorded`` of ``pmo.budget.v1`` into ``known_rates`` (consumer ``<service>.rates``)."""

    topics = (budget.TOPIC,)
    tables = ("known_rates",)

    def __init__(self, service: str) -> None:
        self.name = f"{service}.rates"

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if event.name != budget.ExchangeRateRecorded.event_name or (event.name, event.version) not in budget.REGISTRY:
            return
        rate = budget.REGISTRY.decode(event.name, event.version, event.data)
        if not isinstance(rate, budget.ExchangeRateRecorded):
            return
        await conn.execute(
            _UPSERT, {"b": rate.base, "q": rate.quote, "e": rate.effective_on, "r": rate.rate, "s": rate.source}
        )
