"""Values of failed checks as people read them: plain text, never a pandas or NumPy repr.

``null`` for every missing marker (None, NaN, ``pd.NA``, ``NaT``), ``true``/``false``,
timestamps as ``2026-01-05 10:00:00`` (with ``UTC`` when they carry a zone), numbers as written, a
row of a compound key as ``col=value, ...``; text is shown as is unless it is empty or has spaces
at its ends or control characters (then it is quoted, so ``"vip "`` and ``vip`` differ). :func:`clip` shortens at a word boundary, never in
the middle of a word or a key. The values given here are expected to be masked already
(:mod:`ingestion.pii`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from ingestion.pii import is_null

ELLIPSIS = "…"
SAMPLE_WIDTH = 80  # characters of one sample
SAMPLES = 3  # distinct samples per finding


def text(value: Any) -> str:
    """One value as text (see the module docstring)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if is_null(value):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ") + " UTC"
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "(" + ", ".join(text(v) for v in value) + ")"
    s = str(value)
    if s == "" or s != s.strip() or any(ord(ch) < 32 for ch in s):
        return json.dumps(s, ensure_ascii=False)
    return s


def clip(s: str, limit: int) -> str:
    """``s`` cut to at most ``limit`` characters at a word boundary, with an ellipsis."""
    if len(s) <= limit:
        return s
    room = s[: max(limit - 1, 1)]
    cut = max(room.rfind(" "), room.rfind(","), room.rfind(";"))
    head = room[:cut] if cut > limit // 3 else room
    return head.rstrip(" ,;=") + ELLIPSIS


def distinct(values: Iterable[Any], limit: int = SAMPLES, width: int = SAMPLE_WIDTH) -> list[str]:
    """Up to ``limit`` distinct values as text, in order of first appearance; a last item
    ``…`` says there were more distinct values."""
    seen: list[str] = []
    more = False
    for value in values:
        shown = clip(text(value), width)
        if shown in seen:
            continue
        if len(seen) == limit:
            more = True
            break
        seen.append(shown)
    return [*seen, ELLIPSIS] if more else seen
