"""Parsing and checking the limits of a job type: ``max_concurrency`` and ``rate_limit``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import N_, InvalidLimit

#: Seconds of each rate limit period letter.
PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}

_RATE = re.compile(r"^\s*(\d{1,9})\s*/\s*(s|m|h)\s*$")


@dataclass(frozen=True)
class Rate:
    """A rate limit: at most ``count`` starts per ``seconds`` (a fixed window)."""

    count: int
    seconds: float

    def __str__(self) -> str:
        letter = {v: k for k, v in PERIODS.items()}[self.seconds]
        return f"{self.count}/{letter}"


def _invalid(message: str, **variables: Any) -> InvalidLimit:
    """An :class:`InvalidLimit` whose message the pages translate (``translated()``)."""
    error = InvalidLimit(message % variables if variables else message)
    error.message_id, error.message_vars = message, variables
    return error


def parse_rate(text: str | None) -> Rate | None:
    """Read ``"100/m"`` (also ``/s`` and ``/h``) as a :class:`Rate`; ``None`` or ``""``: none.

    :raises InvalidLimit: not of that form, or a count below 1.
    """
    if text is None or not str(text).strip():
        return None
    match = _RATE.match(str(text))
    if match is None:
        raise _invalid(N_("rate limit %(text)r is not of the form N/s, N/m or N/h"), text=text)
    count = int(match.group(1))
    if count < 1:
        raise _invalid(N_("rate limit %(text)r allows no start; pause the type instead"), text=text)
    return Rate(count, PERIODS[match.group(2)])


def check_concurrency(value: int | str | None) -> int | None:
    """Check a ``max_concurrency``: ``None`` (or ``""``) for no limit, else an int >= 1.

    :raises InvalidLimit: not a whole number of at least 1.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _invalid(N_("max_concurrency must be a whole number of at least 1"))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _invalid(N_("max_concurrency %(value)r is not a whole number"), value=value) from None
    if number < 1 or number > 1_000_000 or str(number) != str(value).strip():
        raise _invalid(
            N_("max_concurrency %(value)r must be a whole number from 1 to 1000000"), value=value
        )
    return number


def normal_rate(text: str | None) -> str | None:
    """``rate_limit`` checked and written the canonical way (``"100/m"``), or ``None``."""
    rate = parse_rate(text)
    return None if rate is None else str(rate)
