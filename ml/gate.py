"""The latest data-quality verdict, as the ML package uses it: passed or not, and why.

The verdict itself is :func:`quality.results.latest_gate` (the newest bronze run of
``quality.check_results`` has no failed error-severity expectation); this only words it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gate:
    passed: bool
    reason: str
    run_id: str | None = None


def latest_gate(wh) -> Gate:
    """The bronze gate's verdict; no table or no run counts as not passed."""
    from quality.results import latest_gate as quality_gate

    result = quality_gate("bronze", wh=wh)
    if result.run_id is None:
        return Gate(False, "no quality gate result (no bronze run in quality.check_results)")
    if not result.passed:
        return Gate(
            False,
            f"quality gate {result.run_id} failed {len(result.failures)} error expectation(s)",
            result.run_id,
        )
    return Gate(True, f"quality gate {result.run_id} passed", result.run_id)
