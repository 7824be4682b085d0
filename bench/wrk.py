"""The write path under a C load generator: ``wrk`` (Debian package ``wrk``: ``apt-get install wrk``) against the bare
FastAPI reference and our services, in the same run.

Each server is a uvicorn process on a free loopback port and a fresh schema, one after the other: ``bare``
(:mod:`bench.bare_app`), ``projects`` (:mod:`bench.projects_app`: ``POST /projects``, a new stream each time) and
``budget`` (:mod:`bench.service_app`: ``POST /budgets/{project_id}/commitments``, a command on an existing stream:
the stream is read first). ``wrk -t2 -c64 --timeout 2s --latency`` drives each for a warm-up (3 s, discarded) and
then the measured run (10 s by default), with a Lua script that gives every request a unique code or reference
(thread id and the thread's counter) and, for the budget, a budget of the thread's own half of 512: thread ``t``
rotates over budgets ``t, t+2, t+4, ...``, so 32 requests in flight per thread never meet on one stream unless one
is 8 rotations slower than the rest (a 409 is counted as an error). wrk prints a JSON line from its ``done`` hook:
requests, duration, errors (connect, read, write, non-2xx status, timeouts over 2 s) and latency percentiles.

With ``--wrk-profile py-spy`` (default; skipped when py-spy is missing) each of our servers is run once more under
``py-spy record`` (raw collapsed stacks to ``bench/results/wrk-profile-<target>.txt``, with a top list of self and
inclusive time in ``wrk-profile-<target>-top.txt``); the figures of that run are not the ones reported.
``--wrk-workers 1,2`` measures our projects service with ``PMO_WORKERS`` uvicorn workers too (default: 1 only).
The load average is recorded beside every figure: the machine is shared.

Run alone: ``python -m bench.wrk [--wrk-seconds 10] [--wrk-connections 64] [--wrk-targets bare,projects,budget]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench.common import LOG_DIR, RESULTS_DIR, auth_headers, delete_topic, fresh_schema, parser, run_benchmarks, run_id
from bench.http import Server, start_server, stop_server, wait_ready
from bench.http_workloads import Commit, create_portfolio, project_body
from bench.replay import PySpy
from bench.wrk_profile import summarise_top, write_top
from shared.infra.system import Endpoints
from shared.kafka import KafkaOptions

NAME = "wrk"
THREADS = 2
BUDGETS = 512
TARGETS = ("bare", "projects", "budget")
INSTALL = "wrk is not installed: `apt-get install wrk` (Debian package wrk 4.1)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("wrk")
    g.add_argument("--wrk-seconds", type=int, default=10, help="measured seconds per target (default 10)")
    g.add_argument("--wrk-warm-up", type=int, default=3, help="warm-up seconds per target, discarded (default 3)")
    g.add_argument("--wrk-connections", type=int, default=64, help="wrk connections (default 64)")
    g.add_argument("--wrk-targets", default=",".join(TARGETS), help=f"subset of {','.join(TARGETS)}")
    g.add_argument("--wrk-workers", default="1", help="PMO_WORKERS values for the projects service (default 1)")
    g.add_argument("--wrk-profile", choices=("py-spy", "none"), default="py-spy", help="profile our servers")


# ---------------------------------------------------------------------------------------------------------------
# The Lua script and wrk itself

_LUA = """
wrk.method = "{method}"
wrk.headers["Content-Type"] = "application/json"
{headers}
local PATH = [==[{path}]==]
local BODY = [==[{body}]==]
local KEYS = {{ {keys} }}
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local counter = 0
function request()
  counter = counter + 1
  local path = PATH
  if #KEYS > 0 then
    path = (string.gsub(PATH, "@KEY@", KEYS[((id + counter * {threads}) % #KEYS) + 1]))
  end
  local body = (string.gsub(BODY, "@SEQ@", id .. "x" .. counter))
  return wrk.format(nil, path, nil, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


# Paced sending (``delay``, called by wrk before each request after a connection's first) and a log of sampled
# answers, for the freshness benchmark: thread t's n-th request is due at its start + n x threads / rate, on
# CLOCK_MONOTONIC (Python's time.perf_counter); every answer 201 whose code's counter is a multiple of SAMPLE is noted
# with the moment it arrived, and printed by done() as WRK_SAMPLE lines, with each thread's lateness.
_PACED = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct {{ long tv_sec; long tv_nsec; }} pmo_timespec; int clock_gettime(int, pmo_timespec *); ]]
local clock = ffi.new("pmo_timespec")
local function now()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9
end
local INTERVAL = {threads} / {rate}
local SAMPLE = {sample}
local started = nil
local slot = 0
late = 0
latest = 0
function delay()
  local t = now()
  if started == nil then started = t end
  local wait = started + slot * INTERVAL - t
  slot = slot + 1
  if wait < -0.01 then
    late = late + 1
    if -wait > latest then latest = -wait end
  end
  if wait < 0 then return 0 end
  return wait * 1000
end
samples = {{}}
function response(status, headers, body)
  if status == 201 then
    local code = string.match(body, '"code"%s*:%s*"([^"]+)"')
    local n = code and tonumber(string.match(code, "x(%d+)$"))
    if n and n % SAMPLE == 0 then
      local id = string.match(body, '"project_id"%s*:%s*"([^"]+)"') or ""
      samples[#samples + 1] = string.format("%s %s %.6f", code, id, now())
    end
  end
end
local every = {{}}
local base_setup = setup
function setup(thread)
  base_setup(thread)
  every[#every + 1] = thread
end
local base_done = done
function done(summary, latency, requests)
  base_done(summary, latency, requests)
  for _, thread in ipairs(every) do
    for _, line in ipairs(thread:get("samples")) do io.write("WRK_SAMPLE " .. line .. "\\n") end
    io.write(string.format("WRK_LATE %d %.6f\\n", thread:get("late"), thread:get("latest")))
  end
end
"""


def lua_script(
    method: str,
    path: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    keys: Sequence[str] = (),
    *,
    paced: tuple[float, int] | None = None,
) -> str:
    """A wrk script sending ``method path`` with ``body`` (JSON), ``@SEQ@`` in it (and in the path) replaced by a
    value unique in the wrk run (``<thread>x<counter>``), ``@KEY@`` in the path by a key of the thread's own share of
    ``keys``. ``paced=(rate, sample)``: requests sent at ``rate`` a second in all, and the answers of every
    ``sample``-th request of a thread noted (:data:`_PACED`)."""
    script = _LUA.format(
        method=method,
        path=path,
        body=json.dumps(body),
        headers="\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()),
        keys=", ".join(f'"{k}"' for k in keys),
        threads=THREADS,
    )
    if paced is not None:
        script += _PACED.format(threads=THREADS, rate=paced[0], sample=paced[1])
    return script


def run_wrk(
    exe: str, url: str, script: str, *, seconds: float, connections: int, label: str, lines: list[str] | None = None
) -> dict[str, Any]:
    """One wrk run; its JSON summary as figures, with the load average after it (and its other ``WRK_`` lines
    appended to ``lines``)."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    path = LOG_DIR / f"wrk-{label}.lua"
    path.write_text(script)
    command = [exe, f"-t{THREADS}", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "2s", "--latency"]
    command += ["-s", str(path), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if lines is not None:
        lines.extend(x for x in done.stdout.splitlines() if x.startswith("WRK_") and not x.startswith("WRK_JSON "))
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {done.stdout[-500:]} {done.stderr[-500:]}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    wall = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "seconds": round(wall, 2),
        "requests_per_s": round(raw["requests"] / wall, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "errors": errors,
        "non_2xx": raw["status"],
        "timeouts": raw["timeout"],
        "socket_errors": raw["connect"] + raw["read"] + raw["write"],
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def server_cpu(server: Server) -> float:
    """CPU seconds the server process and its workers have used (``/proc``, via psutil)."""
    process = psutil.Process(server.process.pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def describe(label: str, f: Mapping[str, Any]) -> str:
    errors = f" {f['errors']} errors ({f['non_2xx']} non-2xx, {f['timeouts']} timeouts)" if f["errors"] else ""
    return (
        f"  {label:<34} {f['requests_per_s']:8.1f} req/s  p50 {f['p50_ms']:7.1f} ms  p99 {f['p99_ms']:7.1f} ms  "
        f"max {f['max_ms']:7.1f} ms{errors}  server CPU {f.get('server_cpu_ms_per_request', 0):.2f} ms/request  "
        f"(load {f['load_average_1m']:.2f})"
    )


# ---------------------------------------------------------------------------------------------------------------
# Targets


class Target:
    """A server to start and the script that loads it."""

    def __init__(self, name: str, app: str, ready: str, env: Mapping[str, str]) -> None:
        self.name, self.app, self.ready, self.env = name, app, ready, dict(env)
        self.runs = 0

    async def prepare(self, server: Server) -> None:
        """Setup once the server answers."""

    def script(self, tag: str) -> str:
        raise NotImplementedError


class Projects(Target):
    portfolio_id = ""

    async def prepare(self, server: Server) -> None:
        self.portfolio_id = await create_portfolio(server.url)

    def script(self, tag: str) -> str:
        body = project_body(f"W{tag}-@SEQ@", self.portfolio_id)
        return lua_script("POST", "/projects", body, auth_headers())


class Budget(Target):
    def __init__(self, name: str, app: str, ready: str, env: Mapping[str, str], kafka: KafkaOptions) -> None:
        super().__init__(name, app, ready, env)
        self.kafka = kafka
        self.workload = Commit(run_id(), BUDGETS)

    async def prepare(self, server: Server) -> None:
        await self.workload.prepare(server.url, self.kafka, self.env["PMO_BENCH_SOURCE_TOPICS"])

    def script(self, tag: str) -> str:
        _, _, body = self.workload.request(0, 1, 0)
        body["reference"] = f"PO-{tag}-@SEQ@"
        return lua_script("POST", "/budgets/@KEY@/commitments", body, self.workload.headers(), self.workload.keys)


async def measure(exe: str, target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """Start the target's server, set it up, warm it up, measure it (and profile it once more when asked)."""
    server = start_server(f"wrk-{target.name}", target.app, target.env)
    try:
        await wait_ready(server, target.ready)
        await target.prepare(server)
        seconds, connections = int(args.wrk_seconds), int(args.wrk_connections)

        def once(kind: str, duration: int) -> dict[str, Any]:
            tag = uuid.uuid4().hex[:8]
            label = f"{target.name}-{kind}"
            return run_wrk(exe, server.url, target.script(tag), seconds=duration, connections=connections, label=label)

        await asyncio.to_thread(once, "warm-up", int(args.wrk_warm_up))
        cpu_before = server_cpu(server)
        figures = await asyncio.to_thread(once, "measured", seconds)
        cpu = server_cpu(server) - cpu_before
        figures["server_cpu_seconds"] = round(cpu, 2)
        figures["server_cpu_ms_per_request"] = round(1000 * cpu / max(figures["requests"], 1), 3)
        print(describe(target.name, figures))
        if args.wrk_profile == "py-spy" and target.name != "bare" and shutil.which("py-spy"):
            out = RESULTS_DIR / f"wrk-profile-{target.name}.txt"
            with PySpy(out, True, server.process.pid):
                profiled = await asyncio.to_thread(once, "profiled", seconds)
            top = summarise_top(out)
            if top is not None:
                write_top(out.with_name(f"{out.stem}-top.txt"), top, profiled)
                figures["profile"] = {"under_py_spy": profiled, "file": str(out.name), **top}
                print(f"    profiled run: {profiled['requests_per_s']} req/s; top list in {out.stem}-top.txt")
        return figures
    finally:
        stop_server(server)


async def run(endpoints: Endpoints, args: argparse.Namespace) -> dict[str, Any]:
    exe = shutil.which("wrk")
    if exe is None:
        print(f"  skipped: {INSTALL}")
        return {"skipped": INSTALL}
    chosen = [t.strip() for t in str(args.wrk_targets).split(",") if t.strip()]
    unknown = sorted(set(chosen) - set(TARGETS))
    if unknown:
        raise ValueError(f"--wrk-targets: unknown {', '.join(unknown)}; of {', '.join(TARGETS)}")
    workers = [int(w) for w in str(args.wrk_workers).split(",") if w.strip()]
    kafka = KafkaOptions(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    tag = run_id()
    base = {
        "PMO_DATABASE_URL": endpoints.database_url,
        "PMO_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
        "PMO_ENV": "development",
        "PMO_KAFKA_GROUP_PREFIX": f"bench-wrk-{tag}",
    }
    topics = [f"pmo.bench-wrk-projects-{tag}.v1", f"pmo.bench-wrk-budget-{tag}.v1", f"pmo.bench-wrk-budget-in-{tag}.v1"]
    print(f"  wrk -t{THREADS} -c{args.wrk_connections}, {args.wrk_seconds} s measured after {args.wrk_warm_up} s")
    results: dict[str, Any] = {"connections": int(args.wrk_connections), "threads": THREADS, "targets": {}}
    try:
        async with fresh_schema(endpoints.database_url, "wrk", pool_size=1, max_overflow=0) as (_, schema):
            if "bare" in chosen:
                bare = Projects("bare", "bench.bare_app:create_app", "/healthz", {**base, "PMO_DB_SCHEMA": schema})
                results["targets"]["bare"] = await measure(exe, bare, args)
            if "projects" in chosen:
                for n in workers:
                    env = {**base, "PMO_DB_SCHEMA": schema, "PMO_BENCH_TOPIC": topics[0], "PMO_WORKERS": str(n)}
                    name = "projects" if n == 1 else f"projects-{n}-workers"
                    app = "bench.projects_app:create_app"
                    results["targets"][name] = await measure(exe, Projects(name, app, "/readyz", env), args)
        if "budget" in chosen:
            async with fresh_schema(endpoints.database_url, "wrk_budget", pool_size=1, max_overflow=0) as (_, bs):
                env = {
                    **base,
                    "PMO_DB_SCHEMA": bs,
                    "PMO_BENCH_SERVICE": "budget",
                    "PMO_BENCH_TOPIC": topics[1],
                    "PMO_BENCH_SOURCE_TOPICS": topics[2],
                }
                target = Budget("budget", "bench.service_app:create_app", "/readyz", env, kafka)
                results["targets"]["budget"] = await measure(exe, target, args)
    finally:
        for t in topics:
            await delete_topic(kafka, t)
    bare_figures = results["targets"].get("bare")
    if bare_figures:
        for name, f in results["targets"].items():
            if name != "bare":
                f["ratio_to_bare"] = round(f["requests_per_s"] / bare_figures["requests_per_s"], 3)
                f["p99_ratio_to_bare"] = round(f["p99_ms"] / bare_figures["p99_ms"], 2)
                print(f"  {name} / bare: {f['ratio_to_bare']}x req/s, p99 {f['p99_ratio_to_bare']}x")
    return results


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench.wrk")
    add_arguments(p)
    return run_benchmarks([(NAME, run)], p.parse_args(argv), "bench.wrk")


if __name__ == "__main__":
    raise SystemExit(main())
