"""Read marts into pandas and write result tables back: one door to the warehouse for the
``quality``, ``ml`` and ``bi`` packages.

:func:`connect` asks the engine registry (:mod:`ingestion.backends`) for the warehouse of the
engine ``WAREHOUSE_TARGET`` names: each engine's module holds both its loader (a ``Backend``)
and its :class:`Warehouse` (``frame``, ``rows``, ``execute``, ``table_exists``, ``write``), with
the same connection settings as the loader and dbt. ``mark`` is the engine's placeholder for a
bound value.

    with connect() as wh:
        df = wh.frame("select * from marts.fct_shipments")
        wh.write(scores, "ml", "delivery_risk_scores", replace_where=("scored_date", day))
"""

from __future__ import annotations

from collections.abc import Mapping

from .backends.base import Warehouse, _ident, _missing, _plain
from .config import Settings

__all__ = ["Warehouse", "_ident", "_missing", "_plain", "connect"]


def connect(environ: Mapping[str, str] | None = None) -> Warehouse:
    """The warehouse ``WAREHOUSE_TARGET`` names, from the environment (or ``environ``)."""
    from .backends import engine

    settings = Settings.from_env(dict(environ) if environ is not None else None)
    return engine(settings.target).warehouse(settings)
