"""What the fuzz run counts apart instead of failing on: a 422 to a stateful step whose path parameter schemathesis
filled with null from a nullable field of an earlier answer (the request is not schema-valid). No infrastructure."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency (see pyproject's dev extras)")

from tests.fuzz import fuzzing


def _answer(status: int) -> SimpleNamespace:
    return SimpleNamespace(status_code=status, content=json.dumps({"title": "Invalid request"}).encode())


@pytest.mark.parametrize("value", ["null", None])
def test_a_422_to_a_null_path_parameter_is_a_null_link(value: object) -> None:
    case = SimpleNamespace(path_parameters={"project_id": "01a2531e-8e29-7a27-9d86-5f3bb65b296a", "risk_id": value})
    assert fuzzing._null_link(case, _answer(422))


def test_a_real_id_or_another_status_is_not_a_null_link() -> None:
    real = SimpleNamespace(path_parameters={"risk_id": "01a2531e-8e29-7a27-9d86-5f3bb65b296a"})
    assert not fuzzing._null_link(real, _answer(422))
    assert not fuzzing._null_link(SimpleNamespace(path_parameters={"risk_id": "null"}), _answer(500))
    assert not fuzzing._null_link(SimpleNamespace(path_parameters=None), _answer(422))
