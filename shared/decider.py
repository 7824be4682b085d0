"""An aggregate given by its three pure functions: the shape every service's domain module has.

``Decider("project", Project, evolve, decide)`` is what :class:`shared.commands.CommandExecutor` needs: the stream
type, the state before the first event, ``evolve(state, event) -> state`` and ``decide(state, command, now) ->
events``. Pure (stdlib only), so domain modules may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from shared.events import DomainEvent

S = TypeVar("S")
C = TypeVar("C")


@dataclass(frozen=True)
class Decider(Generic[S, C]):
    stream_type: str
    initial_state: Callable[[], S]
    evolve: Callable[[S, DomainEvent], S]
    decide: Callable[[S, C, datetime], Sequence[DomainEvent]]
