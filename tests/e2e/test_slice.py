"""End to end: the five services as processes, over HTTP and the real Kafka and PostgreSQL.

A project registered on the projects service shows in the reporting service's portfolio read model.
Freshness (command accepted -> visible in reporting) is printed, not asserted.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from shared.infra.system import System
from tests.support import auth_header

pytestmark = pytest.mark.e2e
HTTP = httpx.Client(headers=auth_header("dora.director", "director"), timeout=10)


def poll(fetch, *, timeout: float = 15.0, interval: float = 0.02):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout}s")
        time.sleep(interval)


def test_every_service_is_healthy_and_ready(system: System) -> None:
    for service in system.services.values():
        assert HTTP.get(f"{service.url}/healthz").json() == {"status": "ok", "service": service.name}
        assert HTTP.get(f"{service.url}/readyz").status_code == 200


def test_a_registered_project_and_its_milestones_reach_the_reporting_read_model(system: System) -> None:
    projects = system.services["projects"].url
    reporting = system.services["reporting"].url
    code = f"E2E-{uuid.uuid4().hex[:8]}"
    portfolio = f"pf-{uuid.uuid4().hex[:6]}"
    assert HTTP.post(f"{projects}/portfolios", json={"portfolio_id": portfolio, "name": "E2E"}).status_code == 201
    created = HTTP.post(
        f"{projects}/projects",
        json={
            "code": code,
            "name": "Website relaunch",
            "objectives": "New site",
            "sponsor": "dora",
            "manager": "max",
            "planned_start": "2027-01-04",
            "planned_end": "2027-06-30",
            "currency": "EUR",
            "portfolio_id": portfolio,
        },
    )
    assert created.status_code == 201, created.text
    accepted = time.monotonic()
    pid = created.json()["project_id"]

    def in_report() -> dict | None:  # type: ignore[type-arg]
        r = HTTP.get(f"{reporting}/portfolio/projects/{pid}")
        return r.json() if r.status_code == 200 else None

    seen = poll(in_report)
    freshness = time.monotonic() - accepted
    print(f"\nfreshness project-registered -> reporting read model: {freshness * 1000:.0f} ms")
    assert seen["code"] == code and seen["status"] == "proposed" and seen["milestones"] == 0

    for name, amount in (("Design", "1000.10"), ("Build", "2500.25")):
        planned = HTTP.post(
            f"{projects}/projects/{pid}/milestones",
            json={"name": name, "due_date": "2027-03-31", "planned_value": {"amount": amount, "currency": "EUR"}},
        )
        assert planned.status_code == 201, planned.text

    def with_milestones() -> dict | None:  # type: ignore[type-arg]
        report = in_report()
        return report if report and report["milestones"] == 2 else None

    report = poll(with_milestones)
    assert report["planned_value"] == {"amount": "3500.35", "currency": "EUR"}
    assert sorted(m["name"] for m in report["milestone_plan"]) == ["Build", "Design"]
    listed = HTTP.get(f"{reporting}/portfolio/projects", params={"portfolio_id": portfolio}).json()
    assert [p["project_id"] for p in listed["items"]] == [pid]
