"""What a config dataclass accepts as a number: a real int or float (not a flag), finite."""

from __future__ import annotations

import math
from typing import Any


def is_finite_number(value: Any) -> bool:
    """True for finite ints and floats; False for nan, inf, bools, text and None."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def is_count(value: Any) -> bool:
    """True for an int (not a flag)."""
    return isinstance(value, int) and not isinstance(value, bool)
