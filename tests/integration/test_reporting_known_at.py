"""Two time axes on every report: ``as_of`` (the business date, with everything known now) and ``known_at`` (only
what had been recorded by then). A correction recorded late changes the ``as_of`` answers and leaves the earlier
``known_at`` answers as they were shown; facts go through Kafka and the real reporting consumers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.conftest import service_client
from tests.support import auth_header, eventually
from tests.support.clock import TODAY
from tests.support.reporting import baseline, for_project, milestone, publish_facts, registered, started, work

pytestmark = pytest.mark.integration

VIEWER = auth_header("vera.viewer", "viewer")
NOW = datetime.now(UTC)


@pytest.fixture
async def reporting(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncExitStack() as stack:
        yield await service_client(stack, "reporting", infra, VIEWER)


def figure(report: dict[str, Any], name: str) -> str | None:
    value = report["figures"][name]["value"]
    return None if value is None else str(value)


async def test_a_late_correction_changes_as_of_answers_and_leaves_earlier_known_at_answers_untouched(
    reporting: httpx.AsyncClient, kafka: Any
) -> None:
    pid = uuid.uuid4()
    start = TODAY - timedelta(days=60)
    t0, t1, t2 = NOW - timedelta(days=30), NOW - timedelta(days=10), NOW - timedelta(days=2)
    first = [
        for_project(registered(start - timedelta(days=2)), pid, t0),
        for_project(started(start), pid, t0 + timedelta(seconds=1)),
        for_project(baseline("100000.00"), pid, t0 + timedelta(seconds=2)),
        for_project(milestone(1, "50000.00", TODAY + timedelta(days=30)), pid, t0 + timedelta(seconds=3)),
        for_project(work("1000.00", start + timedelta(days=10)), pid, t1),
    ]
    late = for_project(work("500.00", start + timedelta(days=5)), pid, t2)  # effective before the first sheet
    await publish_facts(kafka, first)
    url = f"/reports/projects/{pid}"
    seen_then = t1 + timedelta(hours=1)

    async def shown(**params: str) -> dict[str, Any]:
        answer = await reporting.get(url, params=params, headers=VIEWER)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def before_the_correction() -> dict[str, Any]:
        report = await shown(known_at=seen_then.isoformat())
        # every fact recorded before then has arrived (the services' topics are read independently)
        assert figure(report, "ac") == "1000.00", report["figures"]["ac"]
        assert figure(report, "bac") == "100000.00", report["figures"]["bac"]
        return report

    then = await eventually(before_the_correction, timeout=120)  # a fresh group reads the shared topics first
    assert then["known_at"] == seen_then.isoformat()
    await publish_facts(kafka, [late])

    async def corrected() -> None:
        assert figure(await shown(), "ac") == "1500.00"

    await eventually(corrected, timeout=120)
    assert await shown(known_at=seen_then.isoformat()) == then  # reproduced exactly, as shown then
    as_of_between = (start + timedelta(days=7)).isoformat()
    assert figure(await shown(as_of=as_of_between), "ac") == "500.00"  # the late sheet counts from its own date
    assert figure(await shown(as_of=as_of_between, known_at=seen_then.isoformat()), "ac") == "0.00"

    portfolio_then = await reporting.get(
        "/reports/portfolio", params={"known_at": seen_then.isoformat()}, headers=VIEWER
    )
    row = next(x for x in portfolio_then.json()["projects"] if x["project_id"] == str(pid))
    assert row["ac"] == "1000.00"
    curve_then = await reporting.get(f"{url}/s-curve", params={"known_at": seen_then.isoformat()}, headers=VIEWER)
    assert curve_then.json()["points"][-1]["ac"] == "1000.00"

    before_it_existed = await reporting.get(
        url, params={"known_at": (t0 - timedelta(days=1)).isoformat()}, headers=VIEWER
    )
    assert before_it_existed.status_code == 404
    assert "registered after" in before_it_existed.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"known_at": (NOW + timedelta(days=1)).isoformat()}, "known_at"),
        ({"known_at": "yesterday"}, "known_at"),
        ({"as_of": "0"}, "as_of"),
        ({"as_of": "2027-13-01"}, "as_of"),
    ],
)
async def test_a_known_at_in_the_future_or_an_as_of_that_is_not_a_date_is_refused(
    reporting: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    for path in (f"/reports/projects/{uuid.uuid4()}", "/reports/portfolio"):
        answer = await reporting.get(path, params=params, headers=VIEWER)
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_a_projects_report_is_identical_after_a_hundred_times_more_unrelated_history(
    reporting: httpx.AsyncClient, kafka: Any
) -> None:
    pid = uuid.uuid4()
    start = TODAY - timedelta(days=60)
    at = NOW - timedelta(days=20)
    own = [
        registered(start - timedelta(days=2)),
        started(start),
        baseline("100000.00"),
        milestone(1, "50000.00", TODAY + timedelta(days=30)),
        work("1000.00", start + timedelta(days=10)),
    ]
    await publish_facts(kafka, [for_project(f, pid, at + timedelta(seconds=i)) for i, f in enumerate(own)])
    url = f"/reports/projects/{pid}"

    async def arrived() -> dict[str, Any]:
        answer = await reporting.get(url, headers=VIEWER)
        assert answer.status_code == 200 and figure(answer.json(), "ac") == "1000.00", answer.text
        assert figure(answer.json(), "bac") == "100000.00", answer.text  # every topic's facts arrived, not only some
        return dict(answer.json())

    before = await eventually(arrived, timeout=120)
    others = [uuid.uuid4() for _ in range(20)]
    unrelated = [
        for_project(f, other, at + timedelta(seconds=i))
        for other in others
        for i, f in enumerate(
            [registered(start), started(start), baseline("5000.00")]
            + [work("10.00", start + timedelta(days=d % 50)) for d in range(22)]
        )
    ]
    assert len(unrelated) >= 100 * len(own)
    await publish_facts(kafka, unrelated)

    async def all_arrived() -> None:
        portfolio = (await reporting.get("/reports/portfolio", headers=VIEWER)).json()
        seen = {r["project_id"]: r for r in portfolio["projects"]}
        assert all(str(o) in seen and seen[str(o)]["ac"] == "220.00" for o in others)

    await eventually(all_arrived, timeout=120)
    assert (await reporting.get(url, headers=VIEWER)).json() == before
