"""Table contracts: the one source of truth for every landing table.

Each landing table (one CSV per day under ``<landing>/<table>/<YYYY-MM-DD>.csv``) has a contract:
its columns in file order, their warehouse types, the primary key, the required columns, the
personal-data columns (``pii``) and the value rules of a column: the values it may take
(``allowed``) and its bounds (``range``).
The data generator writes exactly these columns (and draws its categories from the value lists
below), the loader types bronze tables from them and dbt's ``sources`` declare them, with an
``accepted_values`` / ``value_in_range`` test per value rule (``ingestion/dbt_sources.py``); the
bronze expectation suites check the same rules (``quality/suites.py``).
``tests/test_ingestion_cli.py`` (``test_generator_loader_and_dbt_sources_agree_with_the_contracts``)
checks that all three agree.

Versioned entities (``products``, ``customers``, ``orders``, ``shipments``) appear again in a later
day's file when they change; their key is unique within one file, and ``updated_at`` orders the
versions. Every other table is append-only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Logical column types. Each backend maps them to its own SQL types.
BIGINT = "bigint"
INTEGER = "integer"
VARCHAR = "varchar"
BOOLEAN = "boolean"
DATE = "date"
TIMESTAMP = "timestamp"


def decimal(precision: int, scale: int) -> str:
    """A fixed-point type, written with exactly ``scale`` digits after the point."""
    return f"decimal({precision},{scale})"


_DECIMAL = re.compile(r"decimal\((\d+),(\d+)\)")


def decimal_parts(type_: str) -> tuple[int, int] | None:
    """``(precision, scale)`` of a decimal type, or ``None`` for any other type."""
    match = _DECIMAL.fullmatch(type_)
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class Range:
    """Bounds of a column's values; ``None`` leaves that side open. Inclusive unless a flag says
    otherwise (``min_inclusive=False``: strictly above ``min``)."""

    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ValueError("a range needs a min or a max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range min {self.min} is above max {self.max}")


def between(
    lo: float | None = None,
    hi: float | None = None,
    *,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> Range:
    return Range(lo, hi, min_inclusive, max_inclusive)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    description: str = ""
    #: the only values the column may take (empty: any); a null is left to ``required``
    allowed: tuple = ()
    #: the bounds of the column's values (``None``: unbounded); a null is left to ``required``
    range: Range | None = None


@dataclass(frozen=True)
class TableContract:
    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    versioned: bool = False
    reference: bool = False  # small master data, written once on the first day
    pii: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """Columns that may never be empty: the key columns and those marked required."""
        return [c.name for c in self.columns if c.required or c.name in self.primary_key]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def allowed_values(self) -> dict[str, tuple]:
        """Column -> the values it may take, for the columns that have such a list."""
        return {c.name: c.allowed for c in self.columns if c.allowed}

    @property
    def ranges(self) -> dict[str, Range]:
        """Column -> its bounds, for the bounded columns."""
        return {c.name: c.range for c in self.columns if c.range is not None}


def _c(
    name: str,
    type_: str,
    required: bool = True,
    description: str = "",
    *,
    allowed: tuple = (),
    range: Range | None = None,
) -> Column:
    return Column(name, type_, required, description, tuple(allowed), range)


MONEY = decimal(12, 2)
#: amounts of money, counts and measures that are never negative
NON_NEGATIVE = between(0)
#: counts of at least one (a line orders, a return returns, a lot holds at least one unit)
POSITIVE_COUNT = between(1)
LATITUDE = between(-90, 90)
LONGITUDE = between(-180, 180)

# Value lists: the one definition of each category. The data generator draws from these (in this
# order: its weights and golden hashes depend on it), dbt tests them on the sources and the bronze
# suites expect them.
FACILITY_TYPES: tuple[str, ...] = ("plant",)
SERVICE_LEVELS: tuple[str, ...] = ("express", "standard", "economy")
PRODUCT_CATEGORIES: tuple[str, ...] = (
    "kitchen",
    "outdoor",
    "furniture",
    "textiles",
    "lighting",
    "storage",
)
SEGMENTS: tuple[str, ...] = ("standard", "plus", "premium", "business")
CHANNELS: tuple[str, ...] = ("web", "mobile_app", "marketplace", "retail_partner")
ORDER_STATUSES: tuple[str, ...] = ("placed", "shipped", "delivered", "cancelled")
SHIPMENT_STATUSES: tuple[str, ...] = ("in_transit", "delivered")
RETURN_REASONS: tuple[str, ...] = (
    "changed_mind",
    "damaged",
    "defective",
    "not_as_described",
    "wrong_item",
    "late_delivery",
)
RETURN_STATUSES: tuple[str, ...] = ("refunded", "rejected")
WASTE_TYPES: tuple[str, ...] = ("scrap", "offcut", "packaging", "expired_material")
DISPOSAL_METHODS: tuple[str, ...] = ("recycled", "landfill", "incinerated", "reused")
INSPECTION_RESULTS: tuple[str, ...] = ("pass", "fail")
WEATHER_CONDITIONS: tuple[str, ...] = ("clear", "cloudy", "rain", "snow", "storm")

CONTRACTS: dict[str, TableContract] = {
    t.name: t
    for t in (
        TableContract(
            "facilities",
            "Plants that make, inspect and ship products.",
            (
                _c("facility_id", BIGINT),
                _c("facility_name", VARCHAR),
                _c("facility_type", VARCHAR, allowed=FACILITY_TYPES),
                _c("city", VARCHAR),
                _c("state", VARCHAR),
                _c("country", VARCHAR),
                _c("latitude", decimal(9, 6), range=LATITUDE),
                _c("longitude", decimal(9, 6), range=LONGITUDE),
                _c("capacity_units_per_day", INTEGER, range=POSITIVE_COUNT),
                _c("opened_on", DATE),
                _c("updated_at", TIMESTAMP),
            ),
            ("facility_id",),
            reference=True,
        ),
        TableContract(
            "carriers",
            "Parcel carriers and their service level.",
            (
                _c("carrier_id", BIGINT),
                _c("carrier_name", VARCHAR),
                _c("service_level", VARCHAR, allowed=SERVICE_LEVELS),
                _c("updated_at", TIMESTAMP),
            ),
            ("carrier_id",),
            reference=True,
        ),
        TableContract(
            "materials",
            "Raw and packaging materials used in recipes.",
            (
                _c("material_id", BIGINT),
                _c("material_name", VARCHAR),
                _c("material_type", VARCHAR),
                _c("unit_of_measure", VARCHAR),
                _c("unit_cost", MONEY, range=NON_NEGATIVE),
                _c("is_recyclable", BOOLEAN),
                _c("updated_at", TIMESTAMP),
            ),
            ("material_id",),
            reference=True,
        ),
        TableContract(
            "products",
            "Finished goods. A price change writes a new version of the row that day.",
            (
                _c("product_id", BIGINT),
                _c("sku", VARCHAR),
                _c("product_name", VARCHAR),
                _c("category", VARCHAR, allowed=PRODUCT_CATEGORIES),
                _c("list_price", MONEY, range=NON_NEGATIVE),
                _c("unit_cost", MONEY, range=NON_NEGATIVE),
                _c("weight_kg", decimal(10, 3), range=NON_NEGATIVE),
                _c("launched_on", DATE),
                _c("is_active", BOOLEAN),
                _c("updated_at", TIMESTAMP),
            ),
            ("product_id",),
            versioned=True,
        ),
        TableContract(
            "recipe_lines",
            "Bill of materials: how much of each material one unit of a product uses.",
            (
                _c("recipe_line_id", BIGINT),
                _c("product_id", BIGINT),
                _c("material_id", BIGINT),
                _c("quantity_per_unit", decimal(12, 3), range=NON_NEGATIVE),
                _c("unit_of_measure", VARCHAR),
                _c("updated_at", TIMESTAMP),
            ),
            ("recipe_line_id",),
            reference=True,
        ),
        TableContract(
            "customers",
            "People and businesses who buy. A segment change writes a new version that day.",
            (
                _c("customer_id", BIGINT),
                _c("first_name", VARCHAR),
                _c("last_name", VARCHAR),
                _c("email", VARCHAR),
                _c("phone", VARCHAR, required=False),
                _c("street_address", VARCHAR, required=False),
                _c("city", VARCHAR),
                _c("state", VARCHAR),
                _c("postal_code", VARCHAR, required=False),
                _c("country", VARCHAR),
                _c("segment", VARCHAR, allowed=SEGMENTS),
                _c("marketing_opt_in", BOOLEAN),
                _c("created_at", TIMESTAMP),
                _c("updated_at", TIMESTAMP),
            ),
            ("customer_id",),
            versioned=True,
            pii=("first_name", "last_name", "email", "phone", "street_address"),
        ),
        TableContract(
            "orders",
            "Order headers. Written when placed, again when shipped, delivered or cancelled.",
            (
                _c("order_id", BIGINT),
                _c("customer_id", BIGINT),
                _c("ordered_at", TIMESTAMP),
                _c("channel", VARCHAR, allowed=CHANNELS),
                _c("status", VARCHAR, allowed=ORDER_STATUSES),
                _c("updated_at", TIMESTAMP),
            ),
            ("order_id",),
            versioned=True,
        ),
        TableContract(
            "order_lines",
            "One product on an order. Net revenue = quantity * unit_price - discount_amount.",
            (
                _c("order_line_id", BIGINT),
                _c("order_id", BIGINT),
                _c("product_id", BIGINT),
                _c("quantity", INTEGER, range=POSITIVE_COUNT),
                _c("unit_price", MONEY, range=NON_NEGATIVE),
                _c("discount_amount", MONEY, range=NON_NEGATIVE),
            ),
            ("order_line_id",),
        ),
        TableContract(
            "shipments",
            "One parcel per order. Written when shipped (in_transit), again when delivered.",
            (
                _c("shipment_id", BIGINT),
                _c("order_id", BIGINT),
                _c("carrier_id", BIGINT),
                _c("facility_id", BIGINT),
                _c("shipped_at", TIMESTAMP),
                _c("promised_at", TIMESTAMP),
                _c("delivered_at", TIMESTAMP, required=False),
                _c("status", VARCHAR, allowed=SHIPMENT_STATUSES),
                _c("distance_km", decimal(10, 1), range=NON_NEGATIVE),
                _c("destination_city", VARCHAR),
                _c("destination_state", VARCHAR),
                _c("updated_at", TIMESTAMP),
            ),
            ("shipment_id",),
            versioned=True,
        ),
        TableContract(
            "returns",
            "Customer returns of delivered order lines, with the amount refunded.",
            (
                _c("return_id", BIGINT),
                _c("order_line_id", BIGINT),
                _c("requested_at", TIMESTAMP),
                _c("reason", VARCHAR, allowed=RETURN_REASONS),
                _c("quantity", INTEGER, range=POSITIVE_COUNT),
                _c("refund_amount", MONEY, range=NON_NEGATIVE),
                _c("status", VARCHAR, allowed=RETURN_STATUSES),
            ),
            ("return_id",),
        ),
        TableContract(
            "waste_events",
            "Material waste recorded at a facility; scrap from a failed inspection names it.",
            (
                _c("waste_event_id", BIGINT),
                _c("facility_id", BIGINT),
                _c("material_id", BIGINT),
                _c("inspection_id", BIGINT, required=False),
                _c("recorded_at", TIMESTAMP),
                _c("waste_type", VARCHAR, allowed=WASTE_TYPES),
                _c("quantity_kg", decimal(12, 3), range=NON_NEGATIVE),
                _c("disposal_method", VARCHAR, allowed=DISPOSAL_METHODS),
                _c("cost", MONEY, range=NON_NEGATIVE),
            ),
            ("waste_event_id",),
        ),
        TableContract(
            "quality_inspections",
            "Inspection of one production lot: lot_size units made, sample_size inspected.",
            (
                _c("inspection_id", BIGINT),
                _c("product_id", BIGINT),
                _c("facility_id", BIGINT),
                _c("inspected_at", TIMESTAMP),
                _c("lot_size", INTEGER, range=POSITIVE_COUNT),
                _c("sample_size", INTEGER, range=POSITIVE_COUNT),
                _c("defects_found", INTEGER, range=NON_NEGATIVE),
                _c("result", VARCHAR, allowed=INSPECTION_RESULTS),
            ),
            ("inspection_id",),
        ),
        TableContract(
            "delivery_feedback",
            "A customer's rating (1-5) and comment on a delivered shipment.",
            (
                _c("feedback_id", BIGINT),
                _c("shipment_id", BIGINT),
                _c("order_id", BIGINT),
                _c("customer_id", BIGINT),
                _c("submitted_at", TIMESTAMP),
                _c("rating", INTEGER, range=between(1, 5)),
                _c("comment", VARCHAR, required=False),
            ),
            ("feedback_id",),
        ),
        TableContract(
            "weather_daily",
            "Daily weather per city (every customer city and facility city).",
            (
                _c("weather_date", DATE),
                _c("city", VARCHAR),
                _c("state", VARCHAR),
                _c("latitude", decimal(9, 6), range=LATITUDE),
                _c("longitude", decimal(9, 6), range=LONGITUDE),
                _c("temperature_c", decimal(5, 1)),
                _c("precipitation_mm", decimal(6, 1), range=NON_NEGATIVE),
                _c("wind_speed_kmh", decimal(5, 1)),
                _c("condition", VARCHAR, allowed=WEATHER_CONDITIONS),
            ),
            ("weather_date", "city"),
        ),
    )
}
