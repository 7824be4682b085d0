"""``PMO_WORKERS`` read before ``prometheus_client`` is imported: the multiprocess folder of a supervisor's workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.processes import configured_workers, prepare_metrics


@pytest.mark.parametrize(("value", "expected"), [(None, 1), ("", 1), ("1", 1), ("3", 3), ("0", 1), ("two", 1)])
def test_the_worker_count_is_read_leniently_the_settings_refuse_a_bad_one(value: str | None, expected: int) -> None:
    environ = {} if value is None else {"PMO_WORKERS": value}
    assert configured_workers(environ) == expected


def test_several_workers_share_a_metrics_folder_named_by_their_supervisor(tmp_path: Path) -> None:
    one: dict[str, str] = {"PMO_WORKERS": "1"}
    prepare_metrics(one)
    assert "PROMETHEUS_MULTIPROC_DIR" not in one
    two: dict[str, str] = {"PMO_WORKERS": "2"}
    prepare_metrics(two)
    folder = two["PROMETHEUS_MULTIPROC_DIR"]
    assert f"-{os.getppid()}-" in folder and os.path.isdir(folder)
    again: dict[str, str] = {"PMO_WORKERS": "3"}
    prepare_metrics(again)
    assert again["PROMETHEUS_MULTIPROC_DIR"] == folder  # the same supervisor: the same folder
    given = {"PMO_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": "/somewhere"}
    prepare_metrics(given)
    assert given["PROMETHEUS_MULTIPROC_DIR"] == "/somewhere"


@pytest.mark.parametrize("service", ["projects", "budget", "invoicing", "resources", "reporting"])
def test_a_service_imported_with_two_workers_counts_metrics_across_processes(service: str, tmp_path: Path) -> None:
    code = (
        f"import {service}.bootstrap, prometheus_client.values as v, os; "
        "print(v.ValueClass.__name__, os.environ['PROMETHEUS_MULTIPROC_DIR'])"
    )
    env = {**os.environ, "PMO_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["MmapedValue", str(tmp_path)], run.stdout + run.stderr
    env.pop("PROMETHEUS_MULTIPROC_DIR")
    env["TMPDIR"] = str(tmp_path)  # where the folder of its own goes
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split()[0] == "MmapedValue", run.stdout + run.stderr
