"""What ``pmo`` prints from data cannot drive the operator's terminal: no escape sequences, no control characters."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from shared import cli
from shared.cli import printable


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("\x1b[31mRED\x1b[0m", "RED"),
        ("\x1b[2J\x1b[HCleared", "Cleared"),
        ("\x1b]0;owned title\x07Apollo", "Apollo"),
        ("\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"),
        ("\x1bP+q\x1b\\ok", "ok"),
        ("\x9b31mC1\x9b0m", "C1"),
        ("line\rover", "line over"),
        ("a\x00b\x07c\x08d\x7fe", "abcde"),
        ("tab\there", "tab here"),
        ("\u202eevil\u202c name\u200b", "evil name"),
        ("Zürich ✓ 東京", "Zürich ✓ 東京"),
    ],
)
def test_escape_sequences_and_control_characters_are_removed(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_line_breaks_are_kept_only_when_asked() -> None:
    assert printable("a\nb") == "a b"
    assert printable("a\n\x1b[31mb", keep_newlines=True) == "a\nb"


def test_tables_are_aligned_on_what_is_shown() -> None:
    table = cli._table([{"name": "\x1b[31mX\x1b[0m", "v": 1}, {"name": "long name", "v": None}], ["name", "v"])
    assert "\x1b" not in table
    assert table.splitlines() == ["NAME       V", "X          1", "long name   "]


def fake_reporting(body: dict[str, Any], status: int = 200) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode(), headers={"content-type": "application/json"})

    return httpx.Client(base_url="http://reporting", transport=httpx.MockTransport(answer))


def test_pmo_report_prints_names_and_reasons_without_escapes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {
        "code": "\x1b]0;pwned\x07P-1",
        "name": "\x1b[2JApollo\x1b[8m hidden",
        "status": "active",
        "currency": "EUR",
        "as_of": "2027-01-01",
        "figures": {"cpi": {"value": "0.80", "reason": "\x1b[32mfine\x1b[0m\r\nreally"}},
        "underfunding_risk": [
            {"name": "M\x1b[1A1", "due_date": "2027-02-01", "probability": "0.10", "driver": "\x07late\x1b[K"}
        ],
    }
    monkeypatch.setattr(cli, "_client", lambda args: fake_reporting(body))
    assert cli.main(["report", "00000000-0000-0000-0000-000000000001"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "P-1  Apollo hidden" in out and "fine  really" in out and "underfunding risk M1" in out and "late" in out


def test_pmo_alerts_prints_titles_and_errors_without_escapes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alert = {"severity": "critical", "rule": "r", "title": "\x1b[5mBLINK", "status": "open", "updated_at": "t"}
    monkeypatch.setattr(cli, "_client", lambda args: fake_reporting({"items": [alert]}))
    assert cli.main(["alerts"]) == 0
    assert "\x1b" not in capsys.readouterr().out
    monkeypatch.setattr(cli, "_client", lambda args: fake_reporting({"detail": "\x1b[2Jno"}, status=500))
    assert cli.main(["alerts"]) == 1
    assert "\x1b" not in capsys.readouterr().err


def test_pmo_token_refuses_a_lifetime_above_the_maximum(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "--ttl", str(13 * 3600)]) == 2
    assert "PMO_JWT_MAX_LIFETIME_SECONDS" in capsys.readouterr().err
    assert cli.main(["token"]) == 0  # the default (8 h) fits
