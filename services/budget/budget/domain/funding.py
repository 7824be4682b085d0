"""Funding: sources, and the tranches they secure with the date each becomes available, or plan with the date
each is expected.

Funding available on a date = secured tranches available by then and not withdrawn by then
(:meth:`Tranche.available`); a withdrawal keeps the history (the tranche still counts before the withdrawal date).
A planned tranche (``funding-planned``) never counts as available: it is secured later under the same tranche id
(``funding-secured``, with the amount and date actually secured) or dropped (``funding-withdrawn`` with
``was_available=false``); rescheduling it moves its expected date. A tranche in another currency than the budget's
is booked at the rate in force on its available (or expected) date and counts for the booked amount; a reschedule
keeps that booking (an amount is converted once).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import assert_never
from uuid import UUID

from budget.domain.conversion import RateInForce, book
from budget.domain.state import Budget, FundingSource, Tranche, positive
from shared.contracts.budget import (
    FundingKind,
    FundingPlanned,
    FundingRescheduled,
    FundingSecured,
    FundingSourceAdded,
    FundingWithdrawn,
)
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import DomainEvent
from shared.immutable import frozen
from shared.money import Money

# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddFundingSource:
    source_id: UUID
    name: str
    kind: FundingKind


@dataclass(frozen=True)
class SecureFunding:
    """Secure a new tranche from ``source_id``; ``rate``: the rate in force on ``available_on`` converting the
    amount's currency into the budget's (None when they are the same or there is none)."""

    source_id: UUID
    tranche_id: UUID
    amount: Money
    available_on: date
    rate: RateInForce | None = None


@dataclass(frozen=True)
class PlanFunding:
    """Plan a tranche from ``source_id``, expected on ``expected_on`` (``rate``: in force on that date)."""

    source_id: UUID
    tranche_id: UUID
    amount: Money
    expected_on: date
    planned_by: str
    rate: RateInForce | None = None


@dataclass(frozen=True)
class SecurePlannedFunding:
    """Secure the planned tranche ``tranche_id`` for ``amount``, available from ``available_on``."""

    tranche_id: UUID
    amount: Money
    available_on: date
    rate: RateInForce | None = None


@dataclass(frozen=True)
class WithdrawFunding:
    tranche_id: UUID
    withdrawn_on: date
    reason: str


@dataclass(frozen=True)
class RescheduleFunding:
    tranche_id: UUID
    available_on: date
    reason: str


FundingCommand = (
    AddFundingSource | SecureFunding | PlanFunding | SecurePlannedFunding | WithdrawFunding | RescheduleFunding
)
FundingEvent = FundingSourceAdded | FundingSecured | FundingPlanned | FundingWithdrawn | FundingRescheduled


# --- errors -------------------------------------------------------------------------------------------------


class UnknownFundingSourceError(NotFoundError):
    """No funding source has this id on the project's budget."""


class UnknownTrancheError(NotFoundError):
    """No tranche has this id on the project's budget."""


class TrancheWithdrawnError(RuleViolationError):
    """The tranche was withdrawn: it can be neither withdrawn again nor rescheduled."""


class TrancheSecuredError(RuleViolationError):
    """The tranche is secured already: only a planned one is secured."""


# --- decide -------------------------------------------------------------------------------------------------


def decide(state: Budget, project_id: UUID, command: FundingCommand) -> list[DomainEvent]:
    """The events a funding command causes on the baselined budget of ``project_id``."""
    match command:
        case AddFundingSource():
            if command.source_id in state.sources:
                raise RuleViolationError(f"funding source {command.source_id} already exists")
            if any(s.name.casefold() == command.name.casefold() for s in state.sources.values()):
                raise RuleViolationError(f"a funding source named {command.name} already exists")
            return [
                FundingSourceAdded(
                    project_id=project_id, source_id=command.source_id, name=command.name, kind=command.kind
                )
            ]
        case SecureFunding():
            _new_tranche(state, command.source_id, command.tranche_id)
            positive(command.amount, "amount")
            converted = book(command.amount, state.currency, command.rate, command.available_on, "amount")
            return [
                FundingSecured(
                    project_id=project_id,
                    source_id=command.source_id,
                    tranche_id=command.tranche_id,
                    amount=command.amount,
                    available_on=command.available_on,
                    booked=converted.booking,
                )
            ]
        case PlanFunding():
            _new_tranche(state, command.source_id, command.tranche_id)
            positive(command.amount, "amount")
            converted = book(command.amount, state.currency, command.rate, command.expected_on, "amount")
            return [
                FundingPlanned(
                    project_id=project_id,
                    source_id=command.source_id,
                    tranche_id=command.tranche_id,
                    amount=command.amount,
                    expected_on=command.expected_on,
                    planned_by=command.planned_by,
                    booked=converted.booking,
                )
            ]
        case SecurePlannedFunding():
            tranche = _live_tranche(state, command.tranche_id)
            if not tranche.planned:
                raise TrancheSecuredError(f"tranche {tranche.tranche_id} is secured already")
            positive(command.amount, "amount")
            converted = book(command.amount, state.currency, command.rate, command.available_on, "amount")
            return [
                FundingSecured(
                    project_id=project_id,
                    source_id=tranche.source_id,
                    tranche_id=tranche.tranche_id,
                    amount=command.amount,
                    available_on=command.available_on,
                    booked=converted.booking,
                )
            ]
        case WithdrawFunding():
            tranche = _live_tranche(state, command.tranche_id)
            return [
                FundingWithdrawn(
                    project_id=project_id,
                    tranche_id=tranche.tranche_id,
                    amount=tranche.amount,
                    withdrawn_on=command.withdrawn_on,
                    was_available=tranche.available(command.withdrawn_on),
                    reason=command.reason,
                )
            ]
        case RescheduleFunding():
            tranche = _live_tranche(state, command.tranche_id)
            if command.available_on == tranche.available_on:
                raise InvalidCommandError("available_on is the tranche's current date", field="available_on")
            return [
                FundingRescheduled(
                    project_id=project_id,
                    tranche_id=tranche.tranche_id,
                    previous_available_on=tranche.available_on,
                    available_on=command.available_on,
                    reason=command.reason,
                )
            ]
        case _:
            assert_never(command)


def _new_tranche(state: Budget, source_id: UUID, tranche_id: UUID) -> None:
    if source_id not in state.sources:
        raise UnknownFundingSourceError(f"funding source {source_id} does not exist", field="source_id")
    if tranche_id in state.tranches:
        raise RuleViolationError(f"tranche {tranche_id} already exists")


def _live_tranche(state: Budget, tranche_id: UUID) -> Tranche:
    tranche = state.tranches.get(tranche_id)
    if tranche is None:
        raise UnknownTrancheError(f"tranche {tranche_id} does not exist")
    if tranche.withdrawn_on is not None:
        raise TrancheWithdrawnError(f"tranche {tranche_id} was already withdrawn on {tranche.withdrawn_on}")
    return tranche


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Budget, event: FundingEvent) -> Budget:
    match event:
        case FundingSourceAdded():
            source = FundingSource(event.source_id, event.name, event.kind)
            return replace(state, sources=frozen({**state.sources, source.source_id: source}))
        case FundingSecured():
            tranche = Tranche(event.tranche_id, event.source_id, event.amount, event.available_on, booking=event.booked)
            return _with_tranche(state, tranche)
        case FundingPlanned():
            tranche = Tranche(
                event.tranche_id, event.source_id, event.amount, event.expected_on, booking=event.booked, planned=True
            )
            return _with_tranche(state, tranche)
        case FundingWithdrawn():
            tranche = replace(
                state.tranches[event.tranche_id], withdrawn_on=event.withdrawn_on, withdrawal_reason=event.reason
            )
            return _with_tranche(state, tranche)
        case FundingRescheduled():
            return _with_tranche(state, replace(state.tranches[event.tranche_id], available_on=event.available_on))
        case _:
            assert_never(event)


def _with_tranche(state: Budget, tranche: Tranche) -> Budget:
    return replace(state, tranches=frozen({**state.tranches, tranche.tranche_id: tranche}))
