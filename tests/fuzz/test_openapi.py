"""schemathesis ``--checks all`` over every phase (examples, coverage, fuzzing, stateful) on every service, plus a
hostile-text pass: zero failures. The seed is new per run and printed (``PMO_FUZZ_SEED`` replays one); see
:mod:`tests.fuzz.fuzzing` for how it runs and what a failure is."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency (see pyproject's dev extras)")

from schemathesis.checks import CHECKS

from shared.infra.system import SERVICES
from tests.fuzz.fuzzing import SEED, Finding, FuzzResult, fuzz

pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.timeout(600),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]


def report(findings: list[Finding], limit: int = 8) -> str:
    return f"seed {SEED}\n" + "\n".join(f.line() for f in findings[:limit])


@pytest.fixture(params=SERVICES)
def fuzzed(request: pytest.FixtureRequest, infra: Any) -> FuzzResult:
    result = fuzz(request.param, infra)
    assert not result.errors, result.errors
    assert result.cases > 0
    return result


def test_every_phase_ran_on_every_operation(fuzzed: FuzzResult) -> None:
    """Examples, coverage, fuzzing and stateful (sequences of calls linked by what a create answered, the links
    inferred by schemathesis from ``Location`` headers and from the parameters and answers the operations share),
    then the hostile-text pass: each produced cases on this service."""
    assert {"examples", "coverage", "fuzzing", "stateful", "hostile"} <= set(fuzzed.phases), fuzzed.phases
    assert all(fuzzed.phases[phase] > 0 for phase in ("stateful", "coverage", "fuzzing")), fuzzed.line()
    assert fuzzed.operations >= 20, fuzzed.line()


def test_every_check_ran(fuzzed: FuzzResult) -> None:
    """``--checks all``: every check registered with schemathesis (its own, positive data acceptance and negative
    data rejection among them, and ours) ran on this service's answers."""
    registered = set(CHECKS.get_all_names())
    assert {"positive_data_acceptance", "negative_data_rejection", "problem_json", "error_schema"} <= registered
    assert sorted(registered - set(fuzzed.checks)) == [], fuzzed.line()


def test_no_answer_is_a_server_error(fuzzed: FuzzResult) -> None:
    assert not [s for s in fuzzed.statuses if s >= 500], fuzzed.line()
    assert not fuzzed.of("not_a_server_error"), report(fuzzed.of("not_a_server_error"))


def test_every_error_is_problem_json_as_documented(fuzzed: FuzzResult) -> None:
    found = fuzzed.of("problem_json") + fuzzed.of("error_schema") + fuzzed.of("hostile")
    assert not found, report(found)


def test_checks_all_find_nothing(fuzzed: FuzzResult) -> None:
    """Every check schemathesis has (``--checks all``): status codes, media types, schemas and headers as
    documented, invalid input refused, ``Allow`` on 405, auth not ignored, use after free, and schema-valid input
    accepted (:func:`test_schema_valid_input_is_accepted` says what is counted apart)."""
    found = [f for findings in fuzzed.findings.values() for f in findings]
    assert not found, f"{dict(fuzzed.counts)}\n" + report(found)


def test_schema_valid_input_is_accepted(fuzzed: FuzzResult) -> None:
    """schemathesis' positive data acceptance: schema-valid input is never refused by request validation. Counted
    apart, never failures: a 422 from a domain rule on valid input (:data:`tests.fuzz.fuzzing.SEMANTIC`), and a JSON
    number written with a fraction or exponent that JSON Schema calls an integer (``240.0``:
    :data:`tests.fuzz.fuzzing.INTEGRAL_FLOAT`), the one thing the document cannot exclude."""
    found = fuzzed.of("positive_data_acceptance")
    assert not found, report(found)
