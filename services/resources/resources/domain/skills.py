"""Skills, certifications and trainings of a resource: what it can do, recorded as it is acquired (never in
advance), on the ``resource`` aggregate (:mod:`resources.domain.resource`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, assert_never
from uuid import UUID

from resources.domain.checks import MAX_TRAINING_HOURS, check_hours, not_blank, not_future
from shared.contracts.resources import CertificationRecorded, SkillLevel, SkillRecorded, TrainingCompleted
from shared.errors import InvalidCommandError, RuleViolationError
from shared.immutable import frozen

if TYPE_CHECKING:
    from resources.domain.resource import Resource


@dataclass(frozen=True)
class Skill:
    skill: str
    level: SkillLevel
    acquired_on: date


@dataclass(frozen=True)
class Certification:
    certification_id: UUID
    title: str
    issuer: str
    obtained_on: date
    expires_on: date | None


@dataclass(frozen=True)
class Training:
    training_id: UUID
    course: str
    provider: str
    completed_on: date
    hours: Decimal
    skill: str | None


# --- commands ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordSkill:
    skill: str
    level: SkillLevel
    acquired_on: date


@dataclass(frozen=True)
class RecordCertification:
    certification_id: UUID
    title: str
    issuer: str
    obtained_on: date
    expires_on: date | None = None


@dataclass(frozen=True)
class RecordTraining:
    training_id: UUID
    course: str
    provider: str
    completed_on: date
    hours: Decimal
    skill: str | None = None


SkillsCommand = RecordSkill | RecordCertification | RecordTraining
SkillsEvent = SkillRecorded | CertificationRecorded | TrainingCompleted


# --- decide --------------------------------------------------------------------------------------------------


def decide_skills(state: Resource, rid: UUID, command: SkillsCommand, today: date) -> SkillsEvent:
    """The event ``command`` produces on the registered resource ``rid``, or an error saying why it is refused."""
    match command:
        case RecordSkill():
            return _record_skill(state, rid, command, today)
        case RecordCertification():
            return _record_certification(state, rid, command, today)
        case RecordTraining():
            return _record_training(state, rid, command, today)
        case _:
            assert_never(command)


def _record_skill(state: Resource, rid: UUID, command: RecordSkill, today: date) -> SkillRecorded:
    not_future(command.acquired_on, today, "acquired_on")
    not_blank(command.skill, "skill")
    previous = state.skills.get(command.skill.casefold())
    if previous is not None and previous.level is command.level:
        raise InvalidCommandError(f"{previous.skill} is already recorded at level {command.level}", field="level")
    return SkillRecorded(
        resource_id=rid,
        skill=command.skill,
        level=command.level,
        previous_level=previous.level if previous else None,
        acquired_on=command.acquired_on,
    )


def _record_certification(
    state: Resource, rid: UUID, command: RecordCertification, today: date
) -> CertificationRecorded:
    not_future(command.obtained_on, today, "obtained_on")
    not_blank(command.title, "title")
    if command.certification_id in state.certifications:
        raise RuleViolationError(f"certification {command.certification_id} is already recorded")
    if command.expires_on is not None and command.expires_on < command.obtained_on:
        raise InvalidCommandError("expires_on must not be before obtained_on", field="expires_on")
    return CertificationRecorded(
        resource_id=rid,
        certification_id=command.certification_id,
        title=command.title,
        issuer=command.issuer,
        obtained_on=command.obtained_on,
        expires_on=command.expires_on,
    )


def _record_training(state: Resource, rid: UUID, command: RecordTraining, today: date) -> TrainingCompleted:
    not_future(command.completed_on, today, "completed_on")
    not_blank(command.course, "course")
    check_hours(command.hours, "hours", MAX_TRAINING_HOURS, positive=True)
    if any(t.training_id == command.training_id for t in state.trainings):
        raise RuleViolationError(f"training {command.training_id} is already recorded")
    return TrainingCompleted(
        resource_id=rid,
        training_id=command.training_id,
        course=command.course,
        provider=command.provider,
        completed_on=command.completed_on,
        hours=command.hours,
        skill=command.skill,
    )


# --- evolve --------------------------------------------------------------------------------------------------


def evolve_skills(state: Resource, event: SkillsEvent) -> Resource:
    """The resource after a skill, certification or training event."""
    match event:
        case SkillRecorded():
            skill = Skill(event.skill, event.level, event.acquired_on)
            return replace(state, skills=frozen({**state.skills, event.skill.casefold(): skill}))
        case CertificationRecorded():
            cert = Certification(event.certification_id, event.title, event.issuer, event.obtained_on, event.expires_on)
            return replace(state, certifications=frozen({**state.certifications, cert.certification_id: cert}))
        case TrainingCompleted():
            training = Training(
                event.training_id, event.course, event.provider, event.completed_on, event.hours, event.skill
            )
            return replace(state, trainings=(*state.trainings, training))
        case _:
            assert_never(event)
