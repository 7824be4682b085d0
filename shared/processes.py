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
    supervisor (named by its pid) so that ``/metrics`` counts every worker (:mod:`shared.workers`)."""
    if configured_workers(environ) <= 1 or environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    folder = Path(tempfile.gettempdir()) / f"pmo-metrics-{socket.gethostname()}-{os.getppid()}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
