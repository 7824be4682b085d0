"""The status reports section of the dashboard's project page: the latest weekly reports (:mod:`reporting.views.status`)
with their RAG, narrative, free text and the RAID items they refer to (kind, title, status now)."""

from __future__ import annotations

import html
from typing import Any

e = html.escape
LATEST = 3
"""Reports the project page shows (the API lists them all)."""
RAG_CLASS = {"green": "ok", "amber": "warn", "red": "bad"}


def _free_text(label: str, values: list[str]) -> str:
    return f"<li>{e(label)}: {'; '.join(e(v) for v in values)}</li>" if values else ""


def _report(report: dict[str, Any]) -> str:
    items = "".join(
        f"<tr><td class='l'>{e(i['kind'])}</td><td class='l'>{e(i['title'] or i['item_id'])}</td>"
        f"<td class='l'>{e(i['status'])}</td></tr>"
        for i in report["raid_items"]
    )
    free = (
        _free_text("Decisions", report["decisions"])
        + _free_text("Risks", report["risks"])
        + _free_text("Next steps", report["next_steps"])
    )
    overall = report["overall"]
    return (
        f"<div class='status-report' id='report-{e(report['report_id'])}'><h3>{e(report['meeting_date'])}: "
        f"<span class='{RAG_CLASS.get(overall, '')}'>{e(overall)}</span></h3>"
        f"<p>{e(report['narrative']) or '<i>no narrative</i>'}</p>"
        + (f"<ul>{free}</ul>" if free else "")
        + (
            "<table class='raid-refs'><tr><th class='l'>RAID item</th><th class='l'>Title</th>"
            f"<th class='l'>Status now</th></tr>{items}</table>"
            if items
            else ""
        )
        + "</div>"
    )


def status_section(page: dict[str, Any]) -> str:
    """The section's HTML from a page of :func:`reporting.views.status.status_reports`."""
    if not page["items"]:
        return "<div id='status-reports'><p>No status report yet.</p></div>"
    more = f"<p>{page['total']} reports in all.</p>" if page["total"] > len(page["items"]) else ""
    return f"<div id='status-reports'>{''.join(_report(r) for r in page['items'])}{more}</div>"
