"""The fuzz run's seed is new with every run, recorded where a failure is read (the figures printed at the end and
every failure's replay line), and replayed with ``PMO_FUZZ_SEED``; a bad value is refused naming the variable. No
infrastructure: these run in a few milliseconds."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency (see pyproject's dev extras)")

from tests.fuzz import fuzzing


def test_without_pmo_fuzz_seed_every_run_draws_another_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PMO_FUZZ_SEED", raising=False)
    seeds = set()
    for _ in range(3):
        seeds.add(fuzzing._seed())
        time.sleep(0.001)
    assert len(seeds) == 3


def test_pmo_fuzz_seed_replays_a_run_and_the_run_uses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMO_FUZZ_SEED", "424242")
    assert fuzzing._seed() == 424242
    assert fuzzing.config().seed == fuzzing.SEED  # the run's schemathesis configuration takes this run's seed


@pytest.mark.parametrize("value", ["abc", "-1", "1e5", "1234567890123"])
def test_a_seed_that_is_not_a_whole_number_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PMO_FUZZ_SEED", value)
    with pytest.raises(ValueError, match="PMO_FUZZ_SEED"):
        fuzzing._seed()


def test_the_seed_is_in_the_figures_and_in_every_failure() -> None:
    finding = fuzzing.Finding("problem_json", "GET /x", "fuzzing", 400, "detail", "curl ...", "{}")
    assert f"PMO_FUZZ_SEED={fuzzing.SEED}" in finding.line()
    assert f"seed {fuzzing.SEED}" in fuzzing.FuzzResult("projects").line()
