"""The replay's progress bar: redrawn in place, ended once (several processes may report the end twice)."""

import pytest

from shared.replay import text_progress


def test_the_progress_bar_ends_its_line_once(capsys: pytest.CaptureFixture[str]) -> None:
    show = text_progress("reporting")
    show(5, 10)
    show(10, 10)
    show(10, 10)  # the last report repeated
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("10/10 records (100%)\n")
    assert "5/10 records (50%)" in err
