"""``/operations/dead-letters`` on every service: list, show and redrive what its consumers dead-lettered.

Mounted by :func:`shared.service.build_app` on every service, with :func:`operator_access` added to the service's
access policy: the operators of the system (``pmo``, and ``director`` as everywhere) only, reads included, since a
dead letter shows an event's data as it came. Refusals are problem+json: 404 for an event no consumer of the service
dead-lettered, 409 when it is not dead-lettered any more, 422 naming the field for bad input.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shared.auth import AccessPolicy, Role
from shared.bounds import RequestBody
from shared.dead_letters import store
from shared.dead_letters.redrive import redrive
from shared.errors import NotFoundError
from shared.limits import MAX_NAME, MAX_TEXT
from shared.web import Page, Paging, Problem

PREFIX = "/operations/dead-letters"
OPERATORS = frozenset({Role.PMO})
"""Who may list, show and redrive dead letters (``director`` too, as on every route)."""

CONSUMER_PATTERN = r"^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_.-]*$"
"""A consumer's name: ``<service>.<read model>``."""

Consumer = Annotated[str, Field(min_length=3, max_length=MAX_NAME, pattern=CONSUMER_PATTERN)]


def operator_access(policy: AccessPolicy) -> AccessPolicy:
    """``policy`` with the dead-letter routes given to :data:`OPERATORS`."""
    routes = {
        f"GET {PREFIX}": OPERATORS,
        f"GET {PREFIX}/{{event_id}}": OPERATORS,
        f"POST {PREFIX}/{{event_id}}/redrive": OPERATORS,
    }
    return replace(policy, routes={**policy.routes, **routes})


class DeadLetterSummary(BaseModel):
    """One event one consumer could not apply, and what became of it."""

    consumer: str = Field(description="The read model that could not apply it: <service>.<read model>")
    event_id: uuid.UUID = Field(
        description="The event's id (ce_id); for a record with none, an id derived from its topic, partition and offset"
    )
    event_type: str | None = Field(description="ce_type of the record, e.g. pmo.projects.project-registered.v1")
    subject: str | None = Field(description="ce_subject of the record (the stream)")
    topic: str
    partition: int
    offset: int
    status: Literal["dead-lettered", "redriven"]
    error: str = Field(description="Why the last application failed (no stack trace)")
    attempts: int = Field(description="Failed applications: the first, then each failed redrive")
    dead_lettered_at: datetime
    last_failed_at: datetime
    redriven_at: datetime | None
    redriven_by: str | None
    redrive_reason: str | None


class RedriveAttempt(BaseModel):
    consumer: str
    attempted_at: datetime
    attempted_by: str
    reason: str
    outcome: Literal["applied", "failed"]
    error: str | None


class DeadLetterDetail(DeadLetterSummary):
    """A dead letter with its record as it came (the data as text: invalid UTF-8 shown replaced)."""

    key: str | None
    headers: dict[str, str]
    data: str | None


class DeadLetteredEvent(BaseModel):
    """An event's dead letters in this service (one per consumer that could not apply it) and every redrive of it."""

    event_id: uuid.UUID
    dead_letters: list[DeadLetterDetail]
    redrives: list[RedriveAttempt]


class RedriveRequest(RequestBody):
    """Why the event is redriven (kept with who asked and when); ``consumer`` redrives it for that read model only
    (default: every consumer of the service that holds it dead-lettered)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"reason": "Projects reference table fixed (constraint dropped); re-applying"},
                {"reason": "Fixed by release 2027.06.2", "consumer": "invoicing.budget"},
            ]
        }
    )

    reason: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    consumer: Consumer | None = None


def _text(value: bytes | None) -> str | None:
    return None if value is None else bytes(value).decode("utf-8", errors="replace")


def summary(letter: store.DeadLetter) -> DeadLetterSummary:
    return DeadLetterSummary(
        consumer=letter.consumer,
        event_id=letter.event_id,
        event_type=letter.event_type,
        subject=letter.subject,
        topic=letter.record.topic,
        partition=letter.record.partition,
        offset=letter.record.offset,
        status=letter.status,
        error=letter.error,
        attempts=letter.attempts,
        dead_lettered_at=letter.dead_lettered_at,
        last_failed_at=letter.last_failed_at,
        redriven_at=letter.redriven_at,
        redriven_by=letter.redriven_by,
        redrive_reason=letter.redrive_reason,
    )


def detail(letter: store.DeadLetter) -> DeadLetterDetail:
    return DeadLetterDetail(
        **summary(letter).model_dump(),
        key=_text(letter.record.key),
        headers={k: _text(v) or "" for k, v in letter.record.headers},
        data=_text(letter.record.value),
    )


async def dead_lettered_event(conn: Any, event_id: uuid.UUID, consumer: str | None) -> DeadLetteredEvent | None:
    """The answer about one event (None if no consumer of the service dead-lettered it)."""
    letters = await store.of_event(conn, event_id, consumer)
    if not letters:
        return None
    attempts = await store.redrives(conn, event_id, consumer)
    return DeadLetteredEvent(
        event_id=event_id,
        dead_letters=[detail(x) for x in letters],
        redrives=[RedriveAttempt(**vars(a)) for a in attempts],
    )


router = APIRouter(prefix=PREFIX, tags=["operations"])

EventId = Annotated[uuid.UUID, Path(description="The event's id (ce_id)")]
ConsumerQuery = Annotated[
    str | None,
    Query(min_length=3, max_length=MAX_NAME, pattern=CONSUMER_PATTERN, description="Only this consumer's"),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No consumer of this service dead-lettered the event"}
}


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


@router.get(
    "",
    summary="Events this service's consumers could not apply",
    operation_id="listDeadLetters",
    response_model=Page[DeadLetterSummary],
)
async def list_dead_letters(
    request: Request,
    paging: Paging,
    consumer: ConsumerQuery = None,
    status: Annotated[
        Literal["dead-lettered", "redriven", "all"], Query(description="dead-lettered (default), redriven or all")
    ] = "dead-lettered",
) -> Page[DeadLetterSummary]:
    async with _runtime(request).engine.connect() as conn:
        letters, total = await store.listed(
            conn,
            consumer=consumer,
            status=None if status == "all" else status,
            limit=paging.limit,
            offset=paging.offset,
        )
    return Page[DeadLetterSummary](
        items=[summary(x) for x in letters], total=total, limit=paging.limit, offset=paging.offset
    )


@router.get(
    "/{event_id}",
    summary="One event's dead letters, with the record as it came and every redrive",
    operation_id="getDeadLetter",
    response_model=DeadLetteredEvent,
    responses=NOT_FOUND,
)
async def get_dead_letter(request: Request, event_id: EventId, consumer: ConsumerQuery = None) -> DeadLetteredEvent:
    async with _runtime(request).engine.connect() as conn:
        found = await dead_lettered_event(conn, event_id, consumer)
    if found is None:
        raise NotFoundError(f"event {event_id} was not dead-lettered in this service", field="event_id")
    return found


@router.post(
    "/{event_id}/redrive",
    summary="Apply a dead-lettered event again, through the consumer's own path, once its cause is fixed",
    description="Exactly once: the read model's change, its inbox and the dead letter commit together. An event that "
    "fails again stays dead-lettered with the new error and one more attempt (200, status dead-lettered).",
    operation_id="redriveDeadLetter",
    response_model=DeadLetteredEvent,
    responses={
        **NOT_FOUND,
        409: {"model": Problem, "description": "Not dead-lettered any more (already redriven), or applied since"},
    },
)
async def redrive_dead_letter(request: Request, event_id: EventId, body: RedriveRequest) -> DeadLetteredEvent:
    runtime = _runtime(request)
    actor = getattr(request.state, "actor", None) or "anonymous"
    await redrive(
        runtime.engine, runtime.spec.projections, event_id, by=actor, reason=body.reason, consumer=body.consumer
    )
    async with runtime.engine.connect() as conn:
        found = await dead_lettered_event(conn, event_id, body.consumer)
    if found is None:  # only a replay deletes dead letters, and it runs with the service stopped
        raise NotFoundError(f"event {event_id} was not dead-lettered in this service", field="event_id")
    return found
