"""How many worker processes serve a replica (``PMO_WORKERS``), read before anything else is imported.

Standard library only: :mod:`shared` runs :func:`prepare_metrics` when it is first imported, before any module imports
``prometheus_client``, which chooses its single- or multiprocess mode once, at its own import.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import MutableMapping
from pathlib import Path


def configured_workers(environ: MutableMapping[str, str] = os.environ) -> int:
    """``PMO_WORKERS`` as a number (1 when unset or not a number: the settings refuse a bad value at start)."""
    value = (environ.get("PMO_WORKERS") or "1").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 1


def prepare_metrics(environ: MutableMapping[str, str] = os.environ) -> None:
    """With ``PMO_WORKERS`` > 1 and no ``PROMETHEUS_MULTIPROC_DIR``, set one shared by the workers of this process's
    supervisor (named by its pid and start time) so that ``/metrics`` counts every worker (:mod:`shared.workers`)."""
    if configured_workers(environ) <= 1 or environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    supervisor = os.getppid()
    name = f"pmo-metrics-{socket.gethostname()}-{supervisor}-{_started(supervisor)}"
    folder = Path(tempfile.gettempdir()) / name
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, Linux's ``/proc``; ``0`` elsewhere): with the pid, a name
    no later supervisor reusing the pid has, so its workers never count a former one's files."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"
