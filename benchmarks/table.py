"""The text table every benchmark prints."""

from __future__ import annotations


def table(title: str, rows: list[tuple[str, str, str]]) -> str:
    """``rows`` of (measure, value, note) as a text table under ``title``."""
    widths = [max(len(r[i]) for r in [("measure", "value", "note"), *rows]) for i in range(3)]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [f"\n{title}", line]
    for i, r in enumerate([("measure", "value", "note"), *rows]):
        out.append("|".join(f" {c:<{w}} " for c, w in zip(r, widths, strict=True)))
        if i == 0:
            out.append(line)
    out.append(line)
    return "\n".join(out)
