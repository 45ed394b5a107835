"""Quality monitors: daily metrics scored by family (day, segment, weekly, files). See
:mod:`quality.monitors.detect`."""

from .detect import FAMILIES, Score, detect, label, score_files, score_series

__all__ = ["FAMILIES", "Score", "detect", "label", "score_files", "score_series"]
