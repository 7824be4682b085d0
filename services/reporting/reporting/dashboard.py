"""The director's dashboard: server-rendered HTML with inline SVG charts (no build step, no external assets).

``/dashboard`` shows the portfolio with its alerts and a utilisation heat map; ``/dashboard/projects/{id}`` a
project's S-curve, CPI/SPI trend, funding against spend, upcoming milestones with their underfunding risk and its
latest status reports with the RAID items they refer to; every figure links to its explanation
(``/dashboard/projects/{id}/explain/{figure}``). Every signed-in page's header links to the portfolio, the risk map
(:mod:`reporting.dashboard_raid`) and the caller's approvals inbox (:mod:`reporting.dashboard_inbox`). A browser
signs in once through ``/dashboard/login?token=...`` (the token is kept in the ``pmo_token`` cookie: ``HttpOnly``,
``SameSite=Strict``, ``Path=/``, ``Secure`` outside development mode, accepted for GET requests only) and out through
``POST /dashboard/logout``, which clears it. Every HTML answer carries :data:`SECURITY_HEADERS`: a Content Security
Policy that allows no script at all and nothing from another origin (the pages use inline styles and inline SVG
only), no framing, no referrer (the sign-in URL holds the token), no MIME sniffing, no caching.
"""

from __future__ import annotations

import html
import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from reporting import handlers, queries
from reporting.dashboard_status import LATEST, status_section
from reporting.domain.amounts import shown, shown_ratio
from reporting.queries import reading
from reporting.views import status as status_views
from shared.authz import InScope
from shared.bounds import Day
from shared.service import Runtime
from shared.web import SESSION_COOKIE

router = APIRouter(tags=["dashboard"], include_in_schema=False)
public = APIRouter(include_in_schema=False)
e = html.escape

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2733;background:#f5f7fa}
header{background:#1d3557;color:#fff;padding:12px 24px}header a{color:#fff}
main{padding:16px 24px}h1{font-size:20px;margin:0}h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
th,td{padding:6px 8px;border-bottom:1px solid #e3e7ed;text-align:right}th{background:#eef2f7}
td.l,th.l{text-align:left}.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b}.warn{color:#a15c00}
.critical{background:#fde8ea}.warning{background:#fff5e0}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;padding:10px 14px;border-radius:6px;min-width:140px}.card b{display:block;font-size:18px}
svg{background:#fff}.legend span{margin-right:12px}.heat td{text-align:center;font-size:11px;min-width:34px}
"""


COOKIE = SESSION_COOKIE
COOKIE_MAX_AGE = 8 * 3600
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Headers of every answer of the dashboard (pages, sign-in redirect, sign-out); ``X-Content-Type-Options:
nosniff`` comes from the edge (``shared.web``), on every answer of every service."""


def secured(response: Response) -> Response:
    """``response`` with :data:`SECURITY_HEADERS`."""
    response.headers.update(SECURITY_HEADERS)
    return response


NAV = (
    "<nav id='nav' style='margin-top:6px;font-size:13px'><a href='/dashboard'>Portfolio</a> &middot; "
    "<a id='nav-risks' href='/dashboard/risks'>Risk map</a> &middot; "
    "<a id='nav-inbox' href='/dashboard/inbox'>Approvals inbox</a></nav>"
)
"""The dashboard's navigation, in every signed-in page's header."""


def page(title: str, body: str, *, signed_in: bool = True) -> HTMLResponse:
    sign_out = (
        "<form method='post' action='/dashboard/logout' style='float:right;margin:0'>"
        "<button type='submit'>Sign out</button></form>"
        if signed_in
        else ""
    )
    response = HTMLResponse(
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
        f"<style>{STYLE}</style></head><body><header>{sign_out}<h1><a href='/dashboard'>PMO</a> &middot; "
        f"{e(title)}</h1>{NAV if signed_in else ''}</header><main>{body}</main></body></html>"
    )
    secured(response)
    return response


def _development(request: Request) -> bool:
    return bool(request.app.state.verifier.config.mode == "development")


def ratio_class(value: str | None, threshold: Decimal = Decimal("0.9")) -> str:
    if value is None:
        return ""
    return "bad" if Decimal(value) < threshold else "ok"


def fig_link(project_id: str, figure: str, value: str | None) -> str:
    shown = e(value) if value is not None else "&ndash;"
    return f"<a href='/dashboard/projects/{project_id}/explain/{figure}' title='explain {figure}'>{shown}</a>"


@public.get("/dashboard/login")
async def login(
    request: Request,
    token: Annotated[str, Query(max_length=4000)],
    next: Annotated[
        str, Query(max_length=300, pattern=r"^/dashboard(/[A-Za-z0-9_/-]*)?(\?[A-Za-z0-9_=&.-]*)?$")
    ] = "/dashboard",
) -> RedirectResponse:
    """Check the token and keep it in the session cookie for the dashboard's pages, then go to ``next`` (a dashboard
    page, with a plain query such as a risk map cell's ``?probability=4&impact=5``)."""
    request.app.state.verifier.verify(f"Bearer {token}")  # 401 problem if it is not valid
    response = RedirectResponse(next, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        secure=not _development(request),
        httponly=True,
        samesite="strict",
    )
    secured(response)
    return response


@public.post("/dashboard/logout")
async def logout(request: Request) -> HTMLResponse:
    """Clear the session cookie (no token needed: signing out must work with an expired one too)."""
    response = page("Signed out", "<p>You are signed out.</p>", signed_in=False)
    response.delete_cookie(COOKIE, path="/", secure=not _development(request), httponly=True, samesite="strict")
    response.headers["Clear-Site-Data"] = '"cookies"'
    return response


@router.get("/dashboard")
async def overview(rt: Runtime, scope: InScope, as_of: Annotated[Day | None, Query()] = None) -> HTMLResponse:
    _, _, portfolio = await handlers.portfolio_report(
        *reading(rt, await scope.project_ids(rt.engine)),
        rt.memo,
        as_of=as_of,
        portfolio_id=None,
        programme_id=None,
        known_at=None,
        currency=queries.reporting_currency(rt),
    )
    day = portfolio["as_of"]
    cards = "".join(
        f"<div class='card'>{e(t['currency'])} BAC<b>{e(t['bac'])}</b>EV {e(t['ev'])} &middot; AC {e(t['ac'])}"
        f"<br>CPI <span class='{ratio_class(t['cpi'])}'>{e(t['cpi'] or '-')}</span> &middot; SPI "
        f"<span class='{ratio_class(t['spi'])}'>{e(t['spi'] or '-')}</span></div>"
        for t in portfolio["totals"]
    )
    rolled = portfolio["rollup"]
    left_out = ", ".join(f"{x['code']} ({x['currency']})" for x in rolled["unconverted"])
    cards += (
        f"<div class='card' id='rollup'>All in {e(rolled['currency'])} BAC<b>{e(rolled['bac'])}</b>EV "
        f"{e(rolled['ev'])} &middot; AC {e(rolled['ac'])}<br>CPI <span class='{ratio_class(rolled['cpi'])}'>"
        f"{e(rolled['cpi'] or '-')}</span> &middot; {rolled['projects']} projects"
        + (f"<br><span class='warn'>no rate: {e(left_out)}</span>" if left_out else "")
        + "</div>"
    )
    rows = "".join(
        f"<tr><td class='l'><a href='/dashboard/projects/{p['project_id']}'>{e(p['code'])}</a></td>"
        f"<td class='l'>{e(p['name'])}</td><td class='l'>{e(p['programme_id'] or '')}</td>"
        f"<td class='l'>{e(p['status'])}</td>"
        + "".join(f"<td>{fig_link(p['project_id'], f, p[f])}</td>" for f in ("bac", "pv", "ev", "ac"))
        + "".join(f"<td class='{ratio_class(p[f])}'>{fig_link(p['project_id'], f, p[f])}</td>" for f in ("cpi", "spi"))
        + f"<td>{fig_link(p['project_id'], 'vac', p['vac'])}</td></tr>"
        for p in portfolio["projects"]
    )
    alerts = await queries.open_alerts(rt.engine, scope=scope.where())
    alert_rows = "".join(
        f"<tr class='{e(a['severity'])}'><td class='l'>{e(a['severity'])}</td><td class='l'>{e(a['rule'])}</td>"
        f"<td class='l'><a href='/dashboard/projects/{a['project_id']}'>{e(a['title'])}</a></td>"
        f"<td class='l'>{e(str(a['updated_at'])[:16])}</td></tr>"
        for a in alerts
    )
    heat = await _heat_map(rt)
    body = (
        f"<p>As of {e(day)} &middot; {len(portfolio['projects'])} projects &middot; {len(alerts)} open alerts"
        " &middot; <a id='risk-map-link' href='/dashboard/risks'>risk map</a></p>"
        f"<div class='cards'>{cards}</div>"
        f"<h2>Open alerts</h2><table id='alerts'><tr><th class='l'>Severity</th><th class='l'>Rule</th>"
        f"<th class='l'>What</th><th class='l'>Since</th></tr>{alert_rows}</table>"
        f"<h2>Projects</h2><table id='projects'><tr><th class='l'>Code</th><th class='l'>Project</th>"
        f"<th class='l'>Programme</th><th class='l'>Status</th><th>BAC</th><th>PV</th><th>EV</th><th>AC</th>"
        f"<th>CPI</th><th>SPI</th><th>VAC</th></tr>{rows}</table>"
        f"<h2>Utilisation (allocated hours / capacity)</h2>{heat}"
    )
    return page("Portfolio", body)


async def _heat_map(rt: Runtime) -> str:
    today = rt.executor.clock.now().date()
    rows = await handlers.utilisation_rows(queries.Ledger(rt.engine), today, 8)
    weeks = sorted({r["week"] for r in rows})
    people: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        people.setdefault(f"{r['role']} {r['resource_id'][:8]}", {})[r["week"]] = r
    if not people:
        return "<p>No people registered yet.</p>"

    def cell(r: dict[str, Any] | None) -> str:
        if r is None or r["allocation"] is None:
            return "<td></td>"
        share = Decimal(r["allocation"])
        colour = (
            "#b00020" if share > 1 else "#e9a23b" if share > Decimal("0.85") else "#7fb77e" if share > 0 else "#eee"
        )
        return (
            f"<td style='background:{colour};color:#fff' title='{e(r['allocated_hours'])} of "
            f"{e(r['capacity_hours'])} h'>{int(share * 100)}%</td>"
        )

    head = "".join(f"<th>{e(w[5:])}</th>" for w in weeks)
    body = "".join(
        f"<tr><td class='l'>{e(name)}</td>{''.join(cell(by_week.get(w)) for w in weeks)}</tr>"
        for name, by_week in sorted(people.items())
    )
    return f"<table class='heat' id='heatmap'><tr><th class='l'>Person</th>{head}</tr>{body}</table>"


def svg_lines(
    points: list[dict[str, Any]], series: list[tuple[str, str]], height: int = 220, currency: str | None = None
) -> str:
    """A small line chart of ``series`` (key, colour) over ``points``: amounts in ``currency`` (the top of the axis
    shown by its minor unit), or ratios when no currency is given."""
    width, pad = 640, 36
    values = [Decimal(p[k]) for p in points for k, _ in series if p.get(k) is not None]
    top = max(values, default=Decimal(1)) or Decimal(1)
    n = max(len(points) - 1, 1)

    def xy(i: int, v: Decimal) -> str:
        x = pad + (width - 2 * pad) * i / n
        y = height - pad - float(v / top) * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    lines = ""
    for key, colour in series:
        coords = " ".join(xy(i, Decimal(p[key])) for i, p in enumerate(points) if p.get(key) is not None)
        lines += (
            f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{coords}'>"
            f"<title>{key}</title></polyline>"
        )
    scale = shown(top, currency) if currency else shown_ratio(top)
    labels = (
        f"<text x='{pad}' y='{height - 10}' font-size='11'>{e(points[0]['date']) if points else ''}</text>"
        f"<text x='{width - pad - 60}' y='{height - 10}' font-size='11'>{e(points[-1]['date']) if points else ''}"
        f"</text><text x='4' y='{pad}' font-size='11'>{e(scale)}</text>"
    )
    legend = "".join(f"<span style='color:{c}'>&#9632; {k.upper()}</span>" for k, c in series)
    return f"<svg width='{width}' height='{height}' role='img'>{lines}{labels}</svg><div class='legend'>{legend}</div>"


CARDS = (
    "bac",
    "pv",
    "ev",
    "ac",
    "cv",
    "sv",
    "cpi",
    "spi",
    "eac_cpi",
    "eac_cpi_spi",
    "etc",
    "vac",
    "tcpi_bac",
    "eac_bottom_up",
    "etc_bottom_up",
    "vac_bottom_up",
    "tcpi_bottom_up",
    "bac_original",
    "pv_original",
    "sv_original",
    "management_reserve",
)
"""The figures of a project's page, in this order (each links to its explanation)."""


@router.get("/dashboard/projects/{project_id}")
async def project_page(
    project_id: Annotated[uuid.UUID, Path()], rt: Runtime, as_of: Annotated[Day | None, Query()] = None
) -> HTMLResponse:
    _, report = await handlers.project_report(*reading(rt), project_id, as_of, None)
    _, curve = await handlers.s_curve(*reading(rt), project_id, as_of, None)
    _, flow = await handlers.cash_flow(*reading(rt), project_id, as_of, None)
    reports = await status_views.status_reports(rt.engine, project_id, LATEST, 0)
    pid, f = str(project_id), report["figures"]

    def card(name: str) -> str:
        css = ratio_class(f[name]["value"]) if name in ("cpi", "spi") else ""
        return (
            f"<div class='card'>{name.upper().replace('_', ' ')}<b class='{css}'>"
            f"{fig_link(pid, name, f[name]['value'])}</b>{e(f[name]['reason'] or '')}</div>"
        )

    figures = "".join(card(name) for name in CARDS if name in f)
    s_curve = svg_lines(
        curve["points"], [("pv", "#457b9d"), ("ev", "#2a9d8f"), ("ac", "#e63946")], currency=curve["currency"]
    )
    trend = svg_lines(
        [p for p in curve["points"] if p["cpi"] or p["spi"]], [("cpi", "#6a4c93"), ("spi", "#f4a261")], height=160
    )
    risks = "".join(
        f"<tr><td class='l'>{e(r['name'])}</td><td>{e(r['due_date'])}</td><td>{e(r['needed'])}</td>"
        f"<td>{e(r['available'])}</td><td class='{'bad' if Decimal(r['probability']) > Decimal('0.05') else 'ok'}'>"
        f"{Decimal(r['probability']) * 100:.1f}%</td><td class='l'>{e(r['driver'])}</td></tr>"
        for r in report["underfunding_risk"]
    )
    budget = report["budget"]
    funding = (
        f"<div class='cards'><div class='card'>Funding available<b>{e(budget['funding_available'])}</b></div>"
        f"<div class='card'>Spent (AC)<b>{e(budget['spent'] or '0')}</b></div></div>"
    )
    categories = "".join(
        f"<tr><td class='l'>{e(c['category'])}</td><td>{e(c['budget'])}</td><td>{e(c['committed'])}</td>"
        f"<td>{e(c['actual'])}</td><td>{e(c['remaining'])}</td></tr>"
        for c in budget["categories"]
    )
    conditions = "".join(f"<li class='{e(c['severity'])}'>{e(c['title'])}</li>" for c in report["conditions"])
    inv = report["invoices"]
    unbacked = "".join(
        f"<tr><td class='l'>{e(x['vendor'])} {e(x['number'])}</td><td>{e(x['net'])}</td><td>{e(x['backed'])}</td>"
        f"<td class='l'>{e(x['status'])}</td></tr>"
        for x in inv["without_backing"]
    )
    ratio = inv["backing_ratio"]
    invoices = (
        f"<div class='cards' id='invoices'><div class='card'>Invoiced<b>{e(inv['invoiced'])}</b></div>"
        f"<div class='card'>Backed by work<b class='{ratio_class(ratio)}'>"
        f"{e((ratio and f'{Decimal(ratio) * 100:.1f} %') or '-')}</b></div>"
        f"<div class='card'>Unpaid<b>{e(inv['unpaid'])}</b></div>"
        f"<div class='card'>Overdue<b class='{'bad' if Decimal(inv['overdue']) > 0 else ''}'>{e(inv['overdue'])}</b>"
        f"</div></div>"
        + (
            f"<table><tr><th class='l'>Invoice without full backing</th><th>Net</th><th>Backed</th>"
            f"<th class='l'>Status</th></tr>{unbacked}</table>"
            if unbacked
            else ""
        )
    )
    body = (
        f"<p>{e(report['name'])} &middot; {e(report['status'])} &middot; {e(report['currency'])} &middot; as of "
        f"{e(report['as_of'])} &middot; last status report: {e(report['status_freshness']['last_report'] or 'none')}"
        f" &middot; <a href='/dashboard/inbox?project_id={pid}'>its decisions waiting for you</a>"
        f"</p><div class='cards' id='figures'>{figures}</div>"
        + (f"<p class='warn' id='plan-check'>Plan check: {e(report['plan_check'])}</p>" if report["plan_check"] else "")
        + f"<h2>S-curve</h2><div id='s-curve'>{s_curve}</div><h2>CPI and SPI</h2>{trend}"
        f"<h2>Funding and spend</h2>{funding}<table><tr><th class='l'>Category</th><th>Budget</th>"
        f"<th>Committed</th><th>Actual</th><th>Remaining</th></tr>{categories}</table>"
        f"<h2>Upcoming milestones and underfunding risk</h2><table id='risks'><tr><th class='l'>Milestone</th>"
        f"<th>Due</th><th>Needed</th><th>Available</th><th>Risk</th><th class='l'>Why</th></tr>{risks}</table>"
        f"<h2>Supplier invoices</h2>{invoices}"
        f"<h2>Cash flow and forecast by month</h2>{cash_flow_section(flow)}"
        f"<h2>Alert conditions</h2><ul>{conditions or '<li>none</li>'}</ul>"
        f"<h2>Status reports</h2>{status_section(reports)}"
    )
    return page(f"{report['code']} {report['name']}", body)


def cash_flow_section(flow: dict[str, Any]) -> str:
    """The cash flow's cumulative baseline, actual and forecast as a chart, and its months as a table."""
    points = [
        {
            "date": m["month"],
            "baseline": m["baseline_cumulative"],
            "actual": m["actual_cumulative"],
            "forecast": m["forecast_cumulative"],
        }
        for m in flow["months"]
    ]
    chart = svg_lines(
        points, [("baseline", "#457b9d"), ("actual", "#e63946"), ("forecast", "#f4a261")], currency=flow["currency"]
    )
    columns = ("baseline", "committed", "actual", "cash", "forecast")
    rows = "".join(
        f"<tr><td class='l'>{e(m['month'])}</td>" + "".join(f"<td>{e(m[c] or '')}</td>" for c in columns) + "</tr>"
        for m in flow["months"]
    )
    rule = flow["forecast"]
    return (
        f"<div id='cash-flow'>{chart}<p>Forecast: {e(rule['rule'])} (to {e(rule['cut_off'])})</p>"
        f"<table><tr><th class='l'>Month</th>{''.join(f'<th>{c.capitalize()}</th>' for c in columns)}</tr>{rows}"
        f"</table></div>"
    )


@router.get("/dashboard/projects/{project_id}/explain/{figure}")
async def explain_page(
    project_id: Annotated[uuid.UUID, Path()],
    figure: Annotated[str, Path(pattern="^[a-z_]+$")],
    rt: Runtime,
    as_of: Annotated[Day | None, Query()] = None,
) -> HTMLResponse:
    explained = await handlers.explain_figure(*reading(rt), project_id, figure, as_of, None)
    inputs = "".join(f"<li>{e(k)} = {e(v or '-')}</li>" for k, v in explained["computed_from"].items())
    events = "".join(
        f"<tr><td class='l'>{e(x['type'] or '')}</td><td class='l'>{e(x['what'])}</td><td>{e(x['amount'] or '')}</td>"
        f"<td class='l'>{e(x['recorded_at'] or '')}</td><td class='l'><code>{e(x['event_id'])}</code></td></tr>"
        for x in explained["events"]
    )
    body = (
        f"<p><a href='/dashboard/projects/{project_id}'>back to the project</a></p>"
        f"<div class='cards'><div class='card'>{e(figure.upper())}<b>{e(explained['value'] or '-')}</b>"
        f"{e(explained['reason'] or '')}</div></div>"
        + (f"<h2>Computed from</h2><ul>{inputs}</ul>" if inputs else "")
        + f"<h2>Events behind it</h2><table id='events'><tr><th class='l'>Event</th><th class='l'>What</th>"
        f"<th>Amount</th><th class='l'>Recorded</th><th class='l'>Event id</th></tr>{events}</table>"
    )
    return page(f"Explain {figure}", body)
