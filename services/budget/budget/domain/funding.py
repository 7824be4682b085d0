"""Funding: sources, and the tranches they secure with the date each becomes available.

Funding available on a date = tranches available by then and not withdrawn by then (:meth:`Tranche.available`);
a withdrawal keeps the history (the tranche still counts before the withdrawal date).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import assert_never
from uuid import UUID

from budget.domain.state import Budget, FundingSource, Tranche, in_currency, positive
from shared.contracts.budget import (
    FundingKind,
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
    source_id: UUID
    tranche_id: UUID
    amount: Money
    available_on: date


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


FundingCommand = AddFundingSource | SecureFunding | WithdrawFunding | RescheduleFunding
FundingEvent = FundingSourceAdded | FundingSecured | FundingWithdrawn | FundingRescheduled


# --- errors -------------------------------------------------------------------------------------------------


class UnknownFundingSourceError(NotFoundError):
    """No funding source has this id on the project's budget."""


class UnknownTrancheError(NotFoundError):
    """No tranche has this id on the project's budget."""


class TrancheWithdrawnError(RuleViolationError):
    """The tranche was withdrawn: it can be neither withdrawn again nor rescheduled."""


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
            if command.source_id not in state.sources:
                raise UnknownFundingSourceError(f"funding source {command.source_id} does not exist", field="source_id")
            in_currency(state, command.amount, "amount")
            positive(command.amount, "amount")
            return [
                FundingSecured(
                    project_id=project_id,
                    source_id=command.source_id,
                    tranche_id=command.tranche_id,
                    amount=command.amount,
                    available_on=command.available_on,
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
                    was_available=tranche.available_on <= command.withdrawn_on,
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
            return _with_tranche(state, Tranche(event.tranche_id, event.source_id, event.amount, event.available_on))
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
