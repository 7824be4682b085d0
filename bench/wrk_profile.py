"""Top lists from py-spy's raw collapsed stacks: where a server's time goes per request, by function (self and
inclusive) and by the stages of the command path."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STAGES = (
    ("idle in the event loop (select / epoll)", ("select (selectors.py", "run_forever", "_run_once (asyncio")),
    ("uvicorn HTTP parsing (httptools) and transport", ("uvicorn/protocols",)),
    ("middleware (shared.web, starlette middleware)", ("shared/web.py", "starlette/middleware")),
    ("token verification (shared.auth, jwt)", ("shared/auth.py", "jwt/")),
    ("FastAPI request handling: dependencies, body validation", ("fastapi/routing.py", "fastapi/dependencies")),
    ("pydantic (validation and serialisation)", ("pydantic",)),
    ("JSON encoding / decoding", ("json/", "jsonable_encoder", "orjson")),
    ("command executor (shared.commands)", ("shared/commands.py",)),
    ("event store (shared.eventstore)", ("shared/eventstore.py",)),
    ("query-table projector", ("projections.py", "tables.py")),
    ("SQLAlchemy (execute, begin, commit, pool)", ("sqlalchemy/",)),
    ("asyncpg protocol", ("asyncpg/",)),
    ("relay (shared.relay*)", ("shared/relay",)),
    ("aiokafka", ("aiokafka/",)),
    ("logging", ("logging/",)),
    ("tracing (opentelemetry)", ("opentelemetry",)),
)


def _function(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].rstrip(')')})" if where else name


def summarise_top(path: Path, top: int = 25) -> dict[str, Any] | None:
    """Shares of the samples: per stage (inclusive), the hottest functions by self and by inclusive time."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    total = 0
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    stages: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[_function(frames[-1])] += count
        for function in {_function(f) for f in frames}:
            inclusive[function] += count
        for label, needles in STAGES:
            if any(n in frame for frame in frames for n in needles):
                stages[label] += count
    if not total:
        return None
    return {
        "samples": total,
        "stages": {label: round(stages[label] / total, 3) for label, _ in STAGES if stages[label]},
        "top_self": [{"function": f, "share": round(c / total, 3)} for f, c in own.most_common(top)],
        "top_inclusive": [{"function": f, "share": round(c / total, 3)} for f, c in inclusive.most_common(top)],
    }


def write_top(path: Path, top: Mapping[str, Any], figures: Mapping[str, Any]) -> None:
    lines = [
        f"py-spy samples: {top['samples']} (100 Hz) during a wrk run of {figures.get('requests_per_s')} req/s",
        "",
        "stages (inclusive share of the samples; a sample may count in several):",
        *(f"  {share:6.1%}  {label}" for label, share in top["stages"].items()),
        "",
        "hottest functions, self:",
        *(f"  {x['share']:6.1%}  {x['function']}" for x in top["top_self"]),
        "",
        "hottest functions, inclusive:",
        *(f"  {x['share']:6.1%}  {x['function']}" for x in top["top_inclusive"]),
    ]
    path.write_text("\n".join(lines) + "\n")
