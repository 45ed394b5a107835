"""What a model watches for drift: one :class:`Watch` per feature, declared next to the model
(``ml.delay.DRIFT``, ``ml.demand.DRIFT``) and measured by :mod:`ml.drift`. A module of its own so
the models do not import the drift check that reads them."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("category", "numeric", "bias", "error")


@dataclass(frozen=True)
class Watch:
    """One watched feature: its column, how it is compared, and which limit applies."""

    feature: str
    kind: str
    limit: str = ""  # a key of config.DRIFT_LIMITS; default: the kind itself

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Watch {self.feature!r}: kind {self.kind!r} is not one of {KINDS}")

    @property
    def limit_name(self) -> str:
        return self.limit or self.kind
