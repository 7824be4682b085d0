"""Earned value management (PMBOK / NASA EVM reference card) over a project's books.

BAC = baseline + approved changes; PV = planned value of the milestones due by the date; EV = sum of planned value x
percent complete (100 % once reached); AC = approved work-sheet cost (minus reversals) + the part of approved or
paid supplier invoices (before tax, after credit notes) not already counted through the work sheets they cite.
CV = EV - AC, SV = EV - PV,
CPI = EV / AC, SPI = EV / PV, EAC (CPI) = BAC / CPI, EAC (CPI x SPI) = AC + (BAC - EV) / (CPI x SPI),
ETC = EAC - AC, VAC = BAC - EAC, TCPI (BAC) = (BAC - EV) / (BAC - AC), TCPI (EAC) = (BAC - EV) / (EAC - AC),
CV % = CV / EV, SV % = SV / PV.

A figure that is undefined is ``None`` with a reason, never a division error or a made-up number. Money is rounded
half-even to the currency's minor unit when reported (computations keep full precision); ratios to 4 decimals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from uuid import UUID

from reporting.domain.ledger import ProjectBook
from shared.money import quantize

RATIO = Decimal("0.0001")


@dataclass(frozen=True)
class Evidence:
    """One event behind a figure, with what it contributed."""

    event_id: UUID
    what: str
    amount: Decimal | None = None


@dataclass(frozen=True)
class Figure:
    """A reported number: money (in the project's currency), a ratio, or a percentage; or None with a reason."""

    name: str
    kind: str  # "money" | "ratio" | "percent"
    value: Decimal | None
    reason: str | None = None
    evidence: tuple[Evidence, ...] = ()
    inputs: tuple[str, ...] = ()

    def shown(self, currency: str) -> str | None:
        if self.value is None:
            return None
        if self.kind == "money":
            return format(quantize(self.value, currency), "f")
        return format(self.value.quantize(RATIO, rounding=ROUND_HALF_EVEN), "f")


@dataclass(frozen=True)
class Evm:
    as_of: date
    currency: str
    figures: dict[str, Figure] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Figure:
        return self.figures[name]

    def value(self, name: str) -> Decimal | None:
        return self.figures[name].value


def _money(
    name: str,
    value: Decimal | None,
    reason: str | None = None,
    evidence: tuple[Evidence, ...] = (),
    inputs: tuple[str, ...] = (),
) -> Figure:
    return Figure(name, "money", value, None if value is not None else reason, evidence, inputs)


def _ratio(
    name: str, value: Decimal | None, reason: str | None, inputs: tuple[str, ...], kind: str = "ratio"
) -> Figure:
    return Figure(name, kind, value, None if value is not None else reason, (), inputs)


def _div(numerator: Decimal | None, denominator: Decimal | None) -> Decimal | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def evm(books: ProjectBook, as_of: date) -> Evm:
    """Every EVM figure of one project as of ``as_of`` (its books must be folded as of the same date)."""
    f: dict[str, Figure] = {}

    # BAC
    if books.baseline is None:
        f["bac"] = _money("bac", None, "no budget baseline yet")
    else:
        f["bac"] = _money(
            "bac",
            books.baseline.value + books.changes_total,
            evidence=(
                Evidence(books.baseline.event_id, "baseline", books.baseline.value),
                *(Evidence(a.event_id, f"approved change ({a.label})", a.value) for a in books.change_evidence),
            ),
        )

    due = [m for m in books.milestones.values() if m.due_date <= as_of]
    f["pv"] = _money(
        "pv",
        sum((m.planned_value for m in due), Decimal(0)),
        evidence=tuple(Evidence(m.planned_event, f"milestone {m.name} due {m.due_date}", m.planned_value) for m in due),
    )
    earned = []
    ev_total = Decimal(0)
    for m in books.milestones.values():
        share = m.earned_share
        if share == 0:
            continue
        amount = m.planned_value * share / Decimal(100)
        ev_total += amount
        source = m.reached_event if m.reached_on is not None else m.progress_event
        label = f"milestone {m.name} reached" if m.reached_on is not None else f"milestone {m.name} at {share} %"
        earned.append(Evidence(source or m.planned_event, label, amount))
    f["ev"] = _money("ev", ev_total, evidence=tuple(earned))
    invoiced = [
        inv for inv in books.invoices.values() if inv.live and inv.approved_event is not None and inv.unbacked_cost > 0
    ]
    f["ac"] = _money(
        "ac",
        books.actual_cost + sum((x.unbacked_cost for x in invoiced), Decimal(0)),
        evidence=tuple(Evidence(a.event_id, a.label, a.value) for a in books.cost_evidence)
        + tuple(
            Evidence(
                x.approved_event or x.received_event,
                f"invoice {x.vendor} {x.number} beyond approved work",
                x.unbacked_cost,
            )
            for x in invoiced
        ),
    )

    bac, pv, ev, ac = (f[k].value for k in ("bac", "pv", "ev", "ac"))
    assert pv is not None and ev is not None and ac is not None  # always defined, possibly zero
    f["cv"] = _money("cv", ev - ac, inputs=("ev", "ac"))
    f["sv"] = _money("sv", ev - pv, inputs=("ev", "pv"))
    cpi = _div(ev, ac)
    f["cpi"] = _ratio("cpi", cpi, "no actual cost yet", ("ev", "ac"))
    spi = _div(ev, pv)
    f["spi"] = _ratio("spi", spi, "no planned value due yet", ("ev", "pv"))
    f["cv_percent"] = _ratio("cv_percent", _pct(_div(ev - ac, ev)), "no earned value yet", ("cv", "ev"), "percent")
    f["sv_percent"] = _ratio("sv_percent", _pct(_div(ev - pv, pv)), "no planned value due yet", ("sv", "pv"), "percent")

    if bac is None:
        for name in ("eac_cpi", "eac_cpi_spi", "etc", "vac"):
            f[name] = _money(name, None, "no budget baseline yet", inputs=("bac",))
        for name in ("tcpi_bac", "tcpi_eac"):
            f[name] = _ratio(name, None, "no budget baseline yet", ("bac",))
        return Evm(as_of, books.currency, f)

    eac_cpi = _div(bac, cpi) if cpi else None
    eac_reason = "no actual cost yet" if cpi is None else "no earned value yet (CPI is zero)"
    f["eac_cpi"] = _money("eac_cpi", eac_cpi, eac_reason, inputs=("bac", "cpi"))
    cpi_spi = cpi * spi if cpi is not None and spi is not None else None
    eac2 = ac + (bac - ev) / cpi_spi if cpi_spi else None
    reason2 = "CPI or SPI undefined" if cpi_spi is None else "CPI x SPI is zero"
    f["eac_cpi_spi"] = _money("eac_cpi_spi", eac2, reason2, inputs=("ac", "bac", "ev", "cpi", "spi"))
    f["etc"] = _money("etc", eac_cpi - ac if eac_cpi is not None else None, eac_reason, inputs=("eac_cpi", "ac"))
    f["vac"] = _money("vac", bac - eac_cpi if eac_cpi is not None else None, eac_reason, inputs=("bac", "eac_cpi"))
    remaining_budget = bac - ac
    if remaining_budget > 0:
        f["tcpi_bac"] = _ratio("tcpi_bac", (bac - ev) / remaining_budget, None, ("bac", "ev", "ac"))
    else:
        f["tcpi_bac"] = _ratio("tcpi_bac", None, "actual cost already reaches or exceeds the budget", ("bac", "ac"))
    if eac_cpi is not None and eac_cpi - ac > 0:
        f["tcpi_eac"] = _ratio("tcpi_eac", (bac - ev) / (eac_cpi - ac), None, ("bac", "ev", "eac_cpi", "ac"))
    else:
        f["tcpi_eac"] = _ratio("tcpi_eac", None, "EAC undefined or already spent", ("eac_cpi", "ac"))
    return Evm(as_of, books.currency, f)


def _pct(ratio: Decimal | None) -> Decimal | None:
    return None if ratio is None else ratio * 100
