"""Fuzzing every service's HTTP API from its OpenAPI document (schemathesis, fixed seed, bounded cases): no 5xx,
problem+json for every error, every answer as documented. See :mod:`tests.fuzz.fuzzing` for how it runs."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency (see pyproject's dev extras)")

from shared.infra.system import SERVICES
from tests.fuzz.fuzzing import Finding, FuzzResult, fuzz

pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.timeout(600),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]


def report(findings: list[Finding], limit: int = 5) -> str:
    return "\n".join(f.line() for f in findings[:limit])


@pytest.fixture(params=SERVICES)
def fuzzed(request: pytest.FixtureRequest, infra: Any) -> FuzzResult:
    result = fuzz(request.param, infra)
    assert not result.errors, result.errors
    assert result.cases > 0
    return result


def test_no_answer_is_a_server_error(fuzzed: FuzzResult) -> None:
    assert not fuzzed.of("server error"), report(fuzzed.of("server error"))


def test_every_error_is_problem_json(fuzzed: FuzzResult) -> None:
    assert not fuzzed.of("problem+json"), report(fuzzed.of("problem+json"))


def test_every_success_conforms_to_its_documented_schema(fuzzed: FuzzResult) -> None:
    assert not fuzzed.of("success schema"), report(fuzzed.of("success schema"))


def test_every_answer_has_a_documented_media_type(fuzzed: FuzzResult) -> None:
    """problem+json for errors, text/csv for ``format=csv``: as the document says."""
    assert not fuzzed.of("media type"), report(fuzzed.of("media type"))


def test_every_error_body_matches_the_schema_documented_for_its_status(fuzzed: FuzzResult) -> None:
    assert not fuzzed.of("error schema"), report(fuzzed.of("error schema"))
