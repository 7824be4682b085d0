"""The dashboard's risk page: ``/dashboard/risks`` shows the 5 x 5 probability-impact map of the open risks of the
projects in the caller's scope (filtered by portfolio or programme), each cell with its count and linking to its
risks (``?probability=P&impact=I``: the drill-down), beside the exposure per project and the top risks. Rendered like
the rest of the dashboard (:mod:`reporting.dashboard`: no script, inline styles)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from reporting import raid_model
from reporting.dashboard import e, page
from reporting.views import raid as views
from shared.authz import InScope
from shared.service import Runtime

router = APIRouter(tags=["dashboard"], include_in_schema=False)
GroupId = Annotated[str | None, Query(max_length=64)]
Rating = Annotated[int | None, Query(ge=1, le=5)]

COLOURS = {range(1, 5): "#e3f4e8", range(5, 10): "#fff5e0", range(10, 15): "#ffe2bf", range(15, 26): "#fde8ea"}


def _colour(score: int) -> str:
    return next(c for r, c in COLOURS.items() if score in r)


def _exposure(totals: dict[str, str]) -> str:
    return ", ".join(f"{e(a)} {e(c)}" for c, a in totals.items()) or "-"


def _risk_rows(risks: list[dict[str, Any]]) -> str:
    return "".join(
        f"<tr><td class='l'><a href='/dashboard/projects/{e(r['project_id'])}'>{e(r['title'])}</a></td>"
        f"<td>{r['probability']}</td><td>{r['impact']}</td><td>{r['score']}</td>"
        f"<td>{e(r['money_impact'])} {e(r['currency'])}</td><td>{e(r['exposure'])} {e(r['currency'])}</td>"
        f"<td class='l'>{e(r['owner'])}</td><td class='l'>{e(r['strategy'])}</td><td>{e(r['review_date'])}</td></tr>"
        for r in risks
    )


RISK_HEAD = (
    "<tr><th class='l'>Risk</th><th>P</th><th>I</th><th>Score</th><th>Money impact</th><th>Exposure</th>"
    "<th class='l'>Owner</th><th class='l'>Strategy</th><th>Review</th></tr>"
)


@router.get("/dashboard/risks")
async def risks_page(
    rt: Runtime,
    scope: InScope,
    portfolio_id: GroupId = None,
    programme_id: GroupId = None,
    probability: Rating = None,
    impact: Rating = None,
) -> HTMLResponse:
    lines = await raid_model.raid_books_in(rt.engine, portfolio_id, programme_id, scope.where("pp.project_id"))
    summary = views.raid_summary(lines, 10)
    filters = {k: v for k, v in (("portfolio_id", portfolio_id), ("programme_id", programme_id)) if v}
    grid = ""
    for cell in summary["map"]:
        if cell["impact"] == 1:
            grid += f"<tr><th>{cell['probability']}</th>"
        link = "/dashboard/risks?" + urlencode(
            {**filters, "probability": cell["probability"], "impact": cell["impact"]}
        )
        count = f"<a href='{e(link)}'>{cell['count']}</a>" if cell["count"] else ""
        grid += (
            f"<td id='cell-{cell['probability']}-{cell['impact']}' style='background:{_colour(cell['score'])};"
            f"text-align:center;width:64px;height:40px'>{count}</td>"
        )
        if cell["impact"] == 5:
            grid += "</tr>"
    grid += "<tr><th></th>" + "".join(f"<th>{i}</th>" for i in range(1, 6)) + "</tr>"
    body = (
        f"<p>Exposure (sum of probability / 5 x money impact of the open risks): "
        f"<b id='exposure'>{_exposure(summary['exposure'])}</b></p>"
        "<h2>Probability (rows) x impact (columns)</h2>"
        f"<table id='risk-map' style='width:auto'>{grid}</table>"
    )
    if probability is not None and impact is not None:
        cell = views.map_cell(lines, probability, impact)
        body += (
            f"<h2>Risks with probability {probability} and impact {impact}</h2>"
            f"<table id='cell-risks'>{RISK_HEAD}{_risk_rows(cell['risks'])}</table>"
        )
    projects = "".join(
        f"<tr><td class='l'><a href='/dashboard/projects/{e(p['project_id'])}'>{e(p['code'])}</a></td>"
        f"<td class='l'>{e(p['name'])}</td><td class='l'>{e(p['programme_id'] or '')}</td>"
        f"<td>{p['open_risks']}</td><td>{_exposure(p['exposure'])}</td></tr>"
        for p in summary["projects"]
    )
    body += (
        f"<h2>Top risks</h2><table id='top-risks'>{RISK_HEAD}{_risk_rows(summary['top_risks'])}</table>"
        "<h2>Exposure by project</h2><table id='raid-projects'><tr><th class='l'>Code</th><th class='l'>Project</th>"
        f"<th class='l'>Programme</th><th>Open risks</th><th>Exposure</th></tr>{projects}</table>"
    )
    return page("Risks", body)
