"""The given / when / then harness over any pure aggregate: commands (or events) given, one command decided."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Self, TypeVar

from shared.decider import Decider
from shared.events import DomainEvent

S = TypeVar("S")
C = TypeVar("C")


class Scenario(Generic[S, C]):
    """given(commands...).when(command) -> events, decided at ``now`` by the aggregate's ``decide`` and folded into
    ``state`` by its ``evolve``; every event, given or decided, is kept in ``history`` (the events a handler test
    gives its executor). A command refused raises, and leaves the state and the history as they were."""

    def __init__(self, aggregate: Decider[S, C], now: datetime) -> None:
        self.aggregate = aggregate
        self.now = now
        self.state: S = aggregate.initial_state()
        self.history: list[DomainEvent] = []

    def given(self, *commands: C) -> Self:
        """Decide each of ``commands`` in turn, as if they had been accepted before."""
        for command in commands:
            self.when(command)
        return self

    def given_events(self, *events: DomainEvent) -> Self:
        """Fold ``events`` as if they had been recorded before."""
        for event in events:
            self._apply(event)
        return self

    def when(self, command: C) -> list[DomainEvent]:
        """The events ``command`` decides on the state so far, folded into it."""
        events = list(self.aggregate.decide(self.state, command, self.now))
        for event in events:
            self._apply(event)
        return events

    def _apply(self, event: DomainEvent) -> None:
        self.state = self.aggregate.evolve(self.state, event)
        self.history.append(event)
