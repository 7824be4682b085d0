"""The fuzz suite's marker (``pytest -m fuzz``) and its figures, printed at the end of the run."""

from __future__ import annotations

import sys
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fuzz: schemathesis against every service's OpenAPI document (fixed seed, bounded cases)"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    fuzzing = sys.modules.get("tests.fuzz.fuzzing")  # absent when the fuzz tests did not run (or were skipped)
    RESULTS = getattr(fuzzing, "RESULTS", None)
    if RESULTS:
        terminalreporter.section("fuzz figures")
        for result in RESULTS.values():
            terminalreporter.write_line(result.line())
