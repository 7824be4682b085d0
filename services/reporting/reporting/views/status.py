"""A project's weekly status reports as reporting shows them: each report's RAG, its free text and the RAID items it
refers to, each with its kind, title and status as the log stands now (read from the facts: the projects topic's
``status-reported`` and RAID events of the project).

An item's **title** is its title (risks, issues, decisions), its description (assumptions) or what is needed
(dependencies). Its **status**: a risk or an issue ``open`` or ``closed``; an assumption ``open`` until validated,
then ``confirmed`` or ``invalid``; a decision ``logged``; a dependency ``open``, ``met`` or ``cancelled`` (the
projects service's RAID views say the same). An item whose events reporting has not received yet is listed with
``title`` null and status ``unknown``, never dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts import projects
from shared.contracts import raid as ev
from shared.errors import NotFoundError
from shared.events import DomainEvent

KINDS = ("risk", "issue", "assumption", "decision", "dependency")
"""The kinds a report refers to, in the order they are listed; each kind's ids are the event's ``<kind>_ids``."""
RAID_EVENT_NAMES = [
    "risk-raised",
    "risk-closed",
    "issue-raised",
    "issue-resolved",
    "assumption-recorded",
    "assumption-validated",
    "decision-logged",
    "dependency-declared",
    "dependency-closed",
]
"""The RAID events that set an item's title or status."""


def raid_items(events: Iterable[DomainEvent]) -> dict[uuid.UUID, dict[str, Any]]:
    """Each RAID item ``events`` (in their order) tell of: ``{kind, title, status}`` as they leave it."""
    items: dict[uuid.UUID, dict[str, Any]] = {}
    for event in events:
        match event:
            case ev.RiskRaised():
                items[event.risk_id] = {"kind": "risk", "title": event.title, "status": "open"}
            case ev.RiskClosed() if event.risk_id in items:
                items[event.risk_id]["status"] = "closed"
            case ev.IssueRaised():
                items[event.issue_id] = {"kind": "issue", "title": event.title, "status": "open"}
            case ev.IssueResolved() if event.issue_id in items:
                items[event.issue_id]["status"] = "closed"
            case ev.AssumptionRecorded():
                items[event.assumption_id] = {"kind": "assumption", "title": event.description, "status": "open"}
            case ev.AssumptionValidated() if event.assumption_id in items:
                items[event.assumption_id]["status"] = "confirmed" if event.holds else "invalid"
            case ev.DecisionLogged():
                items[event.decision_id] = {"kind": "decision", "title": event.title, "status": "logged"}
            case ev.DependencyDeclared():
                items[event.dependency_id] = {"kind": "dependency", "title": event.needs, "status": "open"}
            case ev.DependencyClosed() if event.dependency_id in items:
                items[event.dependency_id]["status"] = event.outcome.value
    return items


def referenced(report: projects.StatusReported) -> list[tuple[str, uuid.UUID]]:
    """The (kind, id) of every item ``report`` refers to, by kind then in the order it lists them."""
    return [(kind, item_id) for kind in KINDS for item_id in getattr(report, f"{kind}_ids")]


def report_view(
    report: projects.StatusReported, items: dict[uuid.UUID, dict[str, Any]], recorded_at: str
) -> dict[str, Any]:
    """One report: its RAG, its free text as filed and the RAID items it refers to (kind, title, status now)."""
    return {
        "report_id": str(report.report_id),
        "meeting_date": report.meeting_date.isoformat(),
        "recorded_at": recorded_at,
        **{d: getattr(report, d).value for d in ("schedule", "cost", "scope", "quality", "resources", "overall")},
        "overall_overridden": report.overall_overridden,
        "override_reason": report.override_reason,
        "narrative": report.narrative,
        "decisions": list(report.decisions),
        "risks": list(report.risks),
        "next_steps": list(report.next_steps),
        "raid_items": [
            {
                "item_id": str(item_id),
                "kind": kind,
                "title": items[item_id]["title"] if item_id in items else None,
                "status": items[item_id]["status"] if item_id in items else "unknown",
            }
            for kind, item_id in referenced(report)
        ],
    }


async def status_reports(engine: AsyncEngine, project_id: uuid.UUID, limit: int, offset: int) -> dict[str, Any]:
    """A page of the project's status reports, latest meeting first (then latest filed), read from the facts alone
    (the portfolio read model only names the project: code and name null until it holds it); 404 for a project of
    which reporting holds no fact."""
    async with engine.connect() as conn:
        project = (
            await conn.execute(
                text(
                    "SELECT pp.code, pp.name FROM (SELECT 1 FROM facts WHERE project_id = :p LIMIT 1) AS known "
                    "LEFT JOIN portfolio_projects pp ON pp.project_id = :p"
                ),
                {"p": project_id},
            )
        ).first()
        if project is None:  # no fact of the project at all
            raise NotFoundError(f"project {project_id} is not known to reporting (yet)")
        total = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM facts WHERE project_id = :p AND service = 'projects' "
                    "AND name = 'status-reported'"
                ),
                {"p": project_id},
            )
        ).scalar_one()
        rows = (
            await conn.execute(
                text(
                    "SELECT version, data::text AS data, recorded_at FROM facts WHERE project_id = :p "
                    "AND service = 'projects' AND name = 'status-reported' "
                    "ORDER BY data->>'meeting_date' DESC, recorded_at DESC, position DESC LIMIT :limit OFFSET :offset"
                ),
                {"p": project_id, "limit": limit, "offset": offset},
            )
        ).all()
        reports: list[tuple[projects.StatusReported, str]] = []
        for r in rows:
            decoded = projects.REGISTRY.decode_json("status-reported", r.version, r.data)
            if isinstance(decoded, projects.StatusReported):
                reports.append((decoded, r.recorded_at.isoformat()))
        wanted = {item_id for report, _ in reports for _, item_id in referenced(report)}
        items: dict[uuid.UUID, dict[str, Any]] = {}
        if wanted:
            raid_rows = await conn.execute(
                text(
                    "SELECT name, version, data::text AS data FROM facts WHERE project_id = :p "
                    "AND service = 'projects' AND name = ANY(:names) ORDER BY recorded_at, position"
                ),
                {"p": project_id, "names": RAID_EVENT_NAMES},
            )
            items = raid_items(projects.REGISTRY.decode_json(r.name, r.version, r.data) for r in raid_rows)
    return {
        "project_id": str(project_id),
        "code": project.code,
        "name": project.name,
        "items": [report_view(report, items, recorded) for report, recorded in reports],
        "total": total,
        "limit": limit,
        "offset": offset,
    }
