"""Request bodies' bounds (``shared.bounds.RequestBody``) as the caller sent them."""

from __future__ import annotations

import pytest
from pydantic import Field, ValidationError

from shared.bounds import RequestBody


def test_a_string_over_its_max_length_as_sent_is_refused_before_it_is_trimmed() -> None:
    """The documented ``maxLength`` counts what the caller sent: blanks that trimming would remove included."""

    class Named(RequestBody):
        name: str = Field(max_length=5)

    assert Named(name=" abc ").name == "abc"
    with pytest.raises(ValidationError) as refused:
        Named(name="\rabcde")  # six as sent, five once trimmed
    assert refused.value.errors()[0]["type"] == "string_too_long" and refused.value.errors()[0]["loc"] == ("name",)
