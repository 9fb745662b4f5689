"""Argument conversion: typed values, ranges, and what never passes."""

from __future__ import annotations

import pytest

from stanzalink.commands import Arg, CommandError


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "infinity", "1e999"])
def test_a_float_that_is_not_finite_is_refused(raw: str) -> None:
    arg = Arg("ratio", float, minimum=0, maximum=1)
    with pytest.raises(CommandError, match="ratio: expected a number"):
        arg.convert(raw)


def test_finite_floats_and_their_range() -> None:
    arg = Arg("ratio", float, minimum=0, maximum=1)
    assert arg.convert("0.25") == 0.25
    with pytest.raises(CommandError, match="at most 1"):
        arg.convert("1.5")


@pytest.mark.parametrize(("raw", "value"), [("yes", True), ("OFF", False), ("1", True)])
def test_booleans(raw: str, value: bool) -> None:
    assert Arg("on", bool).convert(raw) is value
    with pytest.raises(CommandError, match="yes or no"):
        Arg("on", bool).convert("maybe")
