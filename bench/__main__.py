"""``python -m bench``: the benchmarks in turn (append, relay, http, wrk, freshness, replay, queries, memory,
idle); figures printed and written to ``bench/results/latest.json``. ``--only append,relay`` picks some;
``--only enterprise`` runs the enterprise-scale one (about 20 minutes at full size, so not in the default run);
``--scale 4`` multiplies every count; ``--events 1000000`` is the 1M replay."""

from __future__ import annotations

from bench import append, enterprise, freshness, http, idle, memory, queries, relay, replay, wrk
from bench.common import Runner, parser, run_benchmarks

MODULES = (append, relay, http, wrk, freshness, replay, queries, memory, idle, enterprise)
BENCHMARKS: dict[str, Runner] = {module.NAME: module.run for module in MODULES}
DEFAULT = [name for name in BENCHMARKS if name != enterprise.NAME]


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench")
    p.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=f"comma-separated subset of {', '.join(BENCHMARKS)} (default: all but {enterprise.NAME})",
    )
    for module in MODULES:
        module.add_arguments(p)
    args = p.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}")
    return run_benchmarks([(name, BENCHMARKS[name]) for name in chosen], args, "bench")


if __name__ == "__main__":
    raise SystemExit(main())
