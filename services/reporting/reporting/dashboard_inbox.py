"""The dashboard's approvals inbox: ``/dashboard/inbox`` lists the decisions waiting for the signed-in caller, the same
items and rules as ``GET /approvals`` (:func:`reporting.approvals.views.inbox`: her role's kinds, her scope, never
what she requested nor what separation of duties forbids her), oldest request first, filtered by kind, project or
portfolio, 100 a page.
Each item shows the commands that decide it (method, service and path: the dashboard runs no script and holds no
token for the other services, so the decision is sent from the caller's own client) and links to its project's page.
Rendered like the rest of the dashboard (:mod:`reporting.dashboard`: no script, inline styles)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from reporting.approvals.kinds import ApprovalKind
from reporting.approvals.views import InboxFilter, inbox
from reporting.dashboard import e, page
from shared.authz import InScope
from shared.service import Runtime

router = APIRouter(tags=["dashboard"], include_in_schema=False)
PAGE = 100
"""Items a page of the inbox shows."""


def _amount(item: dict[str, Any]) -> str:
    amount = item["amount"]
    return f"{e(amount['amount'])} {e(amount['currency'])}" if amount else ""


def _actions(item: dict[str, Any]) -> str:
    return "<br>".join(
        f"<span class='action'>{e(a['action'])}: <code>{e(a['method'])} {e(a['path'])}</code> on {e(a['service'])}"
        "</span>"
        for a in item["actions"]
    )


def _row(item: dict[str, Any]) -> str:
    project = item["project"]
    code = project["code"] or project["project_id"][:8]
    return (
        f"<tr id='item-{e(item['item_id'].replace(':', '-'))}'><td class='l'>{e(item['kind'])}</td>"
        f"<td class='l'><a href='/dashboard/projects/{e(project['project_id'])}'>{e(code)}</a></td>"
        f"<td class='l'>{e(item['what'])}</td><td>{_amount(item)}</td><td class='l'>{e(item['requested_by'])}</td>"
        f"<td>{item['age_days']} d</td><td class='l'>{_actions(item)}</td></tr>"
    )


@router.get("/dashboard/inbox")
async def inbox_page(
    rt: Runtime,
    scope: InScope,
    kind: Annotated[ApprovalKind | None, Query()] = None,
    project_id: Annotated[uuid.UUID | None, Query()] = None,
    portfolio_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    wanted = InboxFilter(kind=kind, project_id=project_id, portfolio_id=portfolio_id)
    found = await inbox(rt.engine, scope.principal, wanted, PAGE, offset, rt.executor.clock.now())
    filters = {k: str(v) for k, v in (("project_id", project_id), ("portfolio_id", portfolio_id)) if v is not None}
    links = [(k.value, urlencode({**filters, "kind": k.value})) for k in ApprovalKind]
    kinds = " &middot; ".join(f"<a href='/dashboard/inbox?{e(query)}'>{e(name)}</a>" for name, query in links)
    more = ""
    if offset + PAGE < found["total"]:
        query = urlencode({**filters, **({"kind": kind.value} if kind else {}), "offset": offset + PAGE})
        more = f"<p><a id='next-page' href='/dashboard/inbox?{e(query)}'>next {PAGE}</a></p>"
    rows = "".join(_row(item) for item in found["items"])
    shown = f"{offset + 1}-{offset + len(found['items'])} of " if found["items"] else ""
    body = (
        f"<p><span id='inbox-total'>{shown}{found['total']}</span> decisions waiting for you"
        + (f" ({e(kind.value)} only)" if kind else "")
        + (f" (filtered: {e(', '.join(filters.values()))})" if filters else "")
        + (" &middot; <a href='/dashboard/inbox'>everything</a>" if kind or filters else "")
        + f"</p><p>Kinds: {kinds}</p>"
        "<table id='inbox'><tr><th class='l'>Kind</th><th class='l'>Project</th><th class='l'>What</th>"
        "<th>Amount</th><th class='l'>Requested by</th><th>Waiting</th><th class='l'>Decide with</th></tr>"
        f"{rows or '<tr><td class=l colspan=7>Nothing is waiting for you.</td></tr>'}</table>{more}"
    )
    return page("Approvals inbox", body)
