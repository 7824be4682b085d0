"""Answers about a project's RAID log: each item as JSON (what the commands answer and the ``raid_items`` query
table keeps), and the whole log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from projects.domain.raid_state import Assumption, Decision, Dependency, Issue, RaidLog, Risk
from shared.jsonable import jsonable

KINDS = ("risk", "issue", "assumption", "decision", "dependency")
"""The kinds of item a log holds, in the order the log view lists them."""


def risk_view(risk: Risk) -> dict[str, Any]:
    a = risk.assessment
    return {
        "kind": "risk",
        "item_id": str(risk.risk_id),
        "risk_id": str(risk.risk_id),
        "title": risk.title,
        "cause": risk.cause,
        "event": risk.event,
        "effect": risk.effect,
        "probability": a.probability,
        "impact": a.impact,
        "score": a.probability * a.impact,
        "money_impact": jsonable(a.money_impact),
        "owner": a.owner,
        "strategy": a.strategy.value,
        "review_date": a.review_date.isoformat(),
        "raised_on": risk.raised_on.isoformat(),
        "last_reviewed_on": _day(risk.last_reviewed_on),
        "status": risk.status.value,
        "closed_on": _day(risk.closed_on),
        "closure": risk.closure.value if risk.closure else None,
        "closing_note": risk.closing_note,
        "actions": [
            {
                "action_id": str(x.action_id),
                "description": x.description,
                "owner": x.owner,
                "due_date": x.due_date.isoformat(),
                "completed_on": _day(x.completed_on),
                "note": x.note,
            }
            for x in sorted(risk.actions.values(), key=lambda x: (x.due_date, str(x.action_id)))
        ],
    }


def issue_view(issue: Issue) -> dict[str, Any]:
    return {
        "kind": "issue",
        "item_id": str(issue.issue_id),
        "issue_id": str(issue.issue_id),
        "title": issue.title,
        "description": issue.description,
        "severity": issue.severity.value,
        "owner": issue.owner,
        "raised_on": issue.raised_on.isoformat(),
        "due_date": issue.due_date.isoformat(),
        "risk_id": str(issue.risk_id) if issue.risk_id else None,
        "status": issue.status.value,
        "resolved_on": _day(issue.resolved_on),
        "resolution": issue.resolution,
    }


def assumption_view(assumption: Assumption) -> dict[str, Any]:
    status = "open" if assumption.holds is None else ("confirmed" if assumption.holds else "invalid")
    return {
        "kind": "assumption",
        "item_id": str(assumption.assumption_id),
        "assumption_id": str(assumption.assumption_id),
        "description": assumption.description,
        "owner": assumption.owner,
        "recorded_on": assumption.recorded_on.isoformat(),
        "status": status,
        "holds": assumption.holds,
        "validated_on": _day(assumption.validated_on),
        "note": assumption.note,
    }


def decision_view(decision: Decision) -> dict[str, Any]:
    return {
        "kind": "decision",
        "item_id": str(decision.decision_id),
        "decision_id": str(decision.decision_id),
        "title": decision.title,
        "decision": decision.decision,
        "decided_by": decision.decided_by,
        "decided_on": decision.decided_on.isoformat(),
        "rationale": decision.rationale,
        "status": "logged",
    }


def dependency_view(dependency: Dependency) -> dict[str, Any]:
    return {
        "kind": "dependency",
        "item_id": str(dependency.dependency_id),
        "dependency_id": str(dependency.dependency_id),
        "provider_project_id": str(dependency.provider_project_id),
        "provider_milestone_id": str(dependency.provider_milestone_id) if dependency.provider_milestone_id else None,
        "needs": dependency.needs,
        "needed_by": dependency.needed_by.isoformat(),
        "owner": dependency.owner,
        "declared_on": dependency.declared_on.isoformat(),
        "status": dependency.outcome.value if dependency.outcome else "open",
        "closed_on": _day(dependency.closed_on),
        "note": dependency.note,
    }


def item_view(state: RaidLog, item_id: UUID) -> dict[str, Any] | None:
    """The item ``item_id`` of any kind, or None."""
    if (risk := state.risks.get(item_id)) is not None:
        return risk_view(risk)
    if (issue := state.issues.get(item_id)) is not None:
        return issue_view(issue)
    if (assumption := state.assumptions.get(item_id)) is not None:
        return assumption_view(assumption)
    if (decision := state.decisions.get(item_id)) is not None:
        return decision_view(decision)
    if (dependency := state.dependencies.get(item_id)) is not None:
        return dependency_view(dependency)
    return None


def item_answer(item_id: UUID) -> Callable[[RaidLog, int], dict[str, Any]]:
    """The view a command on item ``item_id`` answers with: the item after it."""

    def view(state: RaidLog, version: int) -> dict[str, Any]:
        return item_view(state, item_id) or {}

    return view


def log_view(state: RaidLog, version: int) -> dict[str, Any]:
    """The whole log: every item by kind, each list in the order the items were entered."""
    return {
        "project_id": str(state.project_id) if state.project_id else None,
        "version": version,
        "risks": [risk_view(r) for r in state.risks.values()],
        "issues": [issue_view(i) for i in state.issues.values()],
        "assumptions": [assumption_view(a) for a in state.assumptions.values()],
        "decisions": [decision_view(d) for d in state.decisions.values()],
        "dependencies": [dependency_view(d) for d in state.dependencies.values()],
    }


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
