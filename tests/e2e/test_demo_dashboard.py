"""The demo portfolio, loaded through the services' APIs, raises every alert rule; the dashboard shows it in a real
headless Chromium (Debian's ``chromium``) the way a person would see it: the portfolio, a project, an explanation,
the risk map with a cell's drill-down and the approvals inbox."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from shared.auth import mint_token
from shared.demo import load_demo
from shared.infra.system import System

pytestmark = pytest.mark.e2e
RULES = {
    "underfunding-risk",
    "cpi-below-threshold",
    "spi-below-threshold",
    "vac-overrun",
    "commitments-above-budget",
    "over-allocation",
    "status-report-missing",
    "kpi-below-target",
    "follow-up-overdue",
}


@pytest.fixture(scope="module")
def demo(system: System) -> dict[str, Any]:
    started = time.monotonic()
    summary = load_demo({name: s.url for name, s in system.services.items()})
    print(f"\n{summary} in {time.monotonic() - started:.1f} s")
    reporting = system.services["reporting"].url
    headers = {"Authorization": f"Bearer {mint_token('viewer', ['viewer'])}"}
    deadline = time.monotonic() + 90
    while True:
        alerts = httpx.get(
            f"{reporting}/alerts",
            params={"portfolio_id": "enterprise", "status": "open", "limit": 500},
            headers=headers,
        ).json()["items"]
        if {a["rule"] for a in alerts} >= RULES or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return {"summary": summary, "alerts": alerts}


def test_the_demo_portfolio_exercises_every_alert_rule(demo: dict[str, Any]) -> None:
    assert "12 projects" in demo["summary"]
    raised = {a["rule"] for a in demo["alerts"]}
    assert raised >= RULES, f"missing: {RULES - raised}"


def test_the_demo_shows_the_money_model(system: System, demo: dict[str, Any]) -> None:
    """A re-baselined project (PV from version 2, the original baseline beside), USD licences received and invoiced
    and a USD expense booked in EUR (nothing unconverted), a bottom-up forecast, a cash flow, and a plan that agrees
    with the budget everywhere (contingency as management reserve)."""
    reporting = system.services["reporting"].url
    headers = {"Authorization": f"Bearer {mint_token('viewer', ['viewer'])}"}

    def get(path: str, **params: str) -> Any:
        answer = httpx.get(f"{reporting}{path}", params=params, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    listed = httpx.get(  # this run's projects (the shared topics may hold earlier runs' demos too)
        f"{system.services['projects'].url}/projects",
        params={"portfolio_id": "enterprise", "limit": 500},
        headers=headers,
    ).json()["items"]
    ids = {p["code"]: p["project_id"] for p in listed}
    assert len(ids) == 12
    deadline = time.monotonic() + 90
    while True:  # the last facts of the demo (licences, expenses, estimates) may still be on their way
        try:
            pv = get(f"/reports/projects/{ids['ERP']}/explain/pv/by-item")
            assert pv["computed_from"].get("version") == 2, pv
            app = get(f"/reports/projects/{ids['APP']}/explain/ac/by-kind")
            assert app["computed_from"]["goods_received"] != "0.00" and app["unconverted"] == [], app
            dwh = get(f"/reports/projects/{ids['DWH']}/explain/ac/by-kind")
            assert dwh["computed_from"]["expenses"] != "0.00" and dwh["unconverted"] == [], dwh
            crm = get(f"/reports/projects/{ids['CRM']}")
            assert crm["figures"]["eac_bottom_up"]["value"] is not None, crm["figures"]["eac_bottom_up"]
            break
        except (AssertionError, KeyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    erp = get(f"/reports/projects/{ids['ERP']}")
    assert erp["figures"]["pv"]["value"] != erp["figures"]["pv_original"]["value"]  # the re-plan moved PV
    assert erp["figures"]["bac"]["value"] == erp["figures"]["bac_original"]["value"]  # same scope, new dates
    cash = get(f"/reports/projects/{ids['CRM']}/cashflow")
    assert cash["months"], cash
    deadline = time.monotonic() + 60
    while True:  # a plan and a budget that agree: any transient disagreement (PMB not in yet) is cleared
        params = {"portfolio_id": "enterprise", "status": "open", "limit": "500"}
        disagreements = [
            a["title"]
            for a in get("/alerts", **params)["items"]
            if a["rule"] == "plan-disagrees" and a["project_id"] in ids.values()  # the topics hold other tests' too
        ]
        if not disagreements or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert disagreements == []


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium must be installed in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed here; .ci/run installs it")
    return found


def browse(url: str, screenshot: Path | None = None) -> str:
    """The DOM after the page loaded in headless Chromium (and a screenshot when asked)."""
    profile = tempfile.mkdtemp(prefix="pmo-chromium-")
    flags = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1300,2400",
    ]
    try:
        if screenshot is not None:
            subprocess.run([*flags, f"--screenshot={screenshot}", url], capture_output=True, timeout=90, check=True)
        dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, timeout=90, check=True, text=True)
        return dom.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_the_dashboard_shows_the_portfolio_its_alerts_charts_and_explanations(
    system: System, demo: dict[str, Any], tmp_path: Path
) -> None:
    base = system.services["reporting"].url
    token = mint_token("dora.director", ["director"])
    overview = browse(f"{base}/dashboard/login?token={token}", tmp_path / "overview.png")
    assert "<h1>" in overview and "Portfolio" in overview
    for code in ("CRM", "WEB", "ERP", "LOY"):
        assert f">{code}</a>" in overview
    assert 'id="alerts"' in overview and "underfunding-risk" in overview  # critical alerts come first
    assert 'id="heatmap"' in overview and "%</td>" in overview
    print(f"\nscreenshot: {tmp_path / 'overview.png'} ({(tmp_path / 'overview.png').stat().st_size} bytes)")

    crm = next(a for a in demo["alerts"] if a["rule"] == "cpi-below-threshold")["project_id"]
    project = browse(f"{base}/dashboard/login?token={token}&next=/dashboard/projects/{crm}")
    assert 'id="s-curve"' in project and "<polyline" in project
    assert "Upcoming milestones and underfunding risk" in project and 'id="risks"' in project
    assert f"/dashboard/projects/{crm}/explain/cpi" in project  # every figure links to its explanation

    explained = browse(f"{base}/dashboard/login?token={token}&next=/dashboard/projects/{crm}/explain/ac")
    assert 'id="events"' in explained and "work-sheet-approved" in explained


def test_the_dashboard_needs_a_valid_token(system: System) -> None:
    base = system.services["reporting"].url
    assert httpx.get(f"{base}/dashboard").status_code == 401
    assert httpx.get(f"{base}/dashboard/login", params={"token": "forged"}).status_code == 401


def test_the_dashboard_opens_the_risk_map_drills_into_a_cell_and_opens_the_approvals_inbox(
    system: System, demo: dict[str, Any], tmp_path: Path
) -> None:
    """Signed in as the director in Chromium: the risk map's cell holds the demo's vendor risk, following the cell's
    link lists exactly that cell's risks, and the inbox, reached from the navigation, shows the demo's pending
    approvals (the same items as ``GET /approvals``) with the commands that decide them."""
    base = system.services["reporting"].url
    token = mint_token("dora.director", ["director"])
    headers = {"Authorization": f"Bearer {token}"}

    def signed_in(page: str, screenshot: Path | None = None) -> str:
        return browse(f"{base}/dashboard/login?token={token}&next={quote(page, safe='/')}", screenshot)

    listed = httpx.get(  # this run's projects (the shared topics may hold earlier runs' demos too)
        f"{system.services['projects'].url}/projects",
        params={"portfolio_id": "enterprise", "limit": 500},
        headers=headers,
    ).json()["items"]
    ids = {p["code"]: p["project_id"] for p in listed}
    first = ids[min(ids)]  # the demo enters its RAID log on the first project by code
    deadline = time.monotonic() + 60
    while True:  # the RAID events may still be on their way to reporting
        log = httpx.get(f"{base}/reports/projects/{first}/raid", headers=headers, timeout=30)
        risks_now = log.json().get("risks", []) if log.status_code == 200 else []
        vendor = [r for r in risks_now if r["title"] == "Vendor capacity"]
        if vendor or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert vendor, log.text
    probability, impact = vendor[0]["probability"], vendor[0]["impact"]

    risks = signed_in("/dashboard/risks", tmp_path / "risks.png")
    assert 'id="risk-map"' in risks and 'id="top-risks"' in risks and 'id="exposure"' in risks
    assert 'href="/dashboard/inbox"' in risks  # the navigation reaches the inbox
    cells = {
        (int(p), int(i)): (link, int(n))
        for p, i, link, n in re.findall(r'<td id="cell-(\d)-(\d)"[^>]*><a href="([^"]+)">(\d+)</a></td>', risks)
    }
    assert (probability, impact) in cells, cells  # the demo's vendor risk counts in its cell
    link, count = cells[(probability, impact)]
    assert html.unescape(link) == f"/dashboard/risks?probability={probability}&impact={impact}"

    cell = signed_in(html.unescape(link))  # the drill-down, as a click on the cell opens it
    assert f"Risks with probability {probability} and impact {impact}" in cell
    table = re.search(r'<table id="cell-risks">(.*?)</table>', cell, re.S)
    assert table is not None
    shown = [html.unescape(t) for t in re.findall(r'<tr><td class="l"><a href="[^"]+">([^<]+)</a>', table.group(1))]
    expected = httpx.get(f"{base}/reports/raid/map/{probability}/{impact}", headers=headers, timeout=30).json()
    assert "Vendor capacity" in shown and len(shown) == count == len(expected["risks"])
    assert sorted(shown) == sorted(r["title"] for r in expected["risks"])

    app = ids["APP"]  # the demo asks for a budget change and a commitment on APP (the topics may hold other runs')
    deadline = time.monotonic() + 60
    while True:  # the demo's last requests may still be on their way to the inbox
        pending = httpx.get(f"{base}/approvals", params={"project_id": app}, headers=headers, timeout=30).json()
        if {"budget-change", "commitment"} <= {i["kind"] for i in pending["items"]} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    everything = signed_in("/dashboard/inbox")
    assert 'id="inbox"' in everything and 'id="inbox-total"' in everything
    inbox = signed_in(f"/dashboard/inbox?project_id={app}", tmp_path / "inbox.png")
    assert "Approvals inbox" in inbox
    rows = re.findall(r'<tr id="item-([^"]+)">', inbox)
    assert rows == [i["item_id"].replace(":", "-") for i in pending["items"]]  # the same items, oldest first
    change = next(i for i in pending["items"] if i["kind"] == "budget-change")
    assert change["requested_by"] == "fiona.finance" and "fiona.finance" in inbox and "APP" in inbox
    approve = next(a for a in change["actions"] if a["action"] == "approve")
    assert f"POST {approve['path']}</code> on budget" in inbox  # the command that decides it
    print(f"\nscreenshots: {tmp_path / 'risks.png'}, {tmp_path / 'inbox.png'}")

    # The same rules as GET /approvals: the requester does not see her own request; a second finance user does.
    own, other = (
        httpx.get(
            f"{base}/dashboard/inbox",
            params={"project_id": app},
            headers={"Authorization": f"Bearer {mint_token(who, ['finance'])}"},
            timeout=30,
        )
        for who in ("fiona.finance", "carl.controller")
    )
    assert own.status_code == other.status_code == 200
    row = f"item-{change['item_id'].replace(':', '-')}"
    assert row not in own.text and row in other.text
