"""Fixed reference data of the synthetic company: cities, plants, carriers, materials, catalogue.

Everything here is a constant, so the company looks the same at every seed; the seed only changes
what happens to it (orders, weather, prices, failures).
"""

from __future__ import annotations

# The category values are the table contracts' (one definition, also tested by dbt and the bronze
# suites); the generator draws from them in their order.
from ingestion.contracts import (
    CHANNELS,
    DISPOSAL_METHODS,
    RETURN_REASONS,
    SEGMENTS,
    WASTE_TYPES,
    WEATHER_CONDITIONS,
)

__all__ = [
    "ADJECTIVES",
    "CARRIERS",
    "CATEGORIES",
    "CHANNELS",
    "CHANNEL_WEIGHTS",
    "CITIES",
    "COMMENTS",
    "DISPOSAL_COST",
    "DISPOSAL_METHODS",
    "FACILITIES",
    "HOLIDAY_PEAKS",
    "MATERIALS",
    "RETURN_REASONS",
    "SEGMENTS",
    "SEGMENT_WEIGHTS",
    "SERVICE_LEVELS",
    "WASTE_TYPES",
    "WEATHER_CONDITIONS",
]

# City, state, region, latitude, longitude, relative population (customers live here),
# climate: mean January / July temperature (C) and wet-day probability.
CITIES: tuple[tuple[str, str, str, float, float, float, float, float, float], ...] = (
    ("New York", "NY", "Northeast", 40.712776, -74.005974, 8.3, 0.5, 25.3, 0.33),
    ("Los Angeles", "CA", "West", 34.052235, -118.243683, 3.9, 14.2, 23.6, 0.10),
    ("Chicago", "IL", "Midwest", 41.878113, -87.629799, 2.7, -4.6, 23.3, 0.32),
    ("Houston", "TX", "South", 29.760427, -95.369804, 2.3, 11.8, 29.2, 0.28),
    ("Phoenix", "AZ", "West", 33.448376, -112.074036, 1.6, 13.6, 34.8, 0.08),
    ("Philadelphia", "PA", "Northeast", 39.952583, -75.165222, 1.6, 0.6, 25.9, 0.32),
    ("San Antonio", "TX", "South", 29.424122, -98.493629, 1.5, 10.6, 29.4, 0.22),
    ("San Diego", "CA", "West", 32.715736, -117.161087, 1.4, 14.0, 21.9, 0.12),
    ("Dallas", "TX", "South", 32.776665, -96.796989, 1.3, 8.1, 30.6, 0.23),
    ("Austin", "TX", "South", 30.267153, -97.743057, 1.0, 10.3, 29.6, 0.24),
    ("Jacksonville", "FL", "South", 30.332184, -81.655647, 0.95, 12.3, 28.0, 0.31),
    ("Columbus", "OH", "Midwest", 39.961178, -82.998795, 0.9, -1.4, 23.6, 0.36),
    ("Charlotte", "NC", "South", 35.227085, -80.843124, 0.88, 5.3, 26.6, 0.30),
    ("Indianapolis", "IN", "Midwest", 39.768402, -86.158066, 0.87, -2.3, 24.4, 0.34),
    ("Seattle", "WA", "West", 47.606209, -122.332069, 0.75, 5.2, 19.4, 0.42),
    ("Denver", "CO", "West", 39.739235, -104.990250, 0.72, -0.6, 23.4, 0.20),
    ("Boston", "MA", "Northeast", 42.360081, -71.058884, 0.68, -1.5, 23.1, 0.34),
    ("Nashville", "TN", "South", 36.162663, -86.781601, 0.68, 3.3, 26.8, 0.33),
    ("Detroit", "MI", "Midwest", 42.331429, -83.045753, 0.64, -3.8, 23.3, 0.35),
    ("Portland", "OR", "West", 45.515232, -122.678385, 0.65, 4.8, 20.8, 0.40),
    ("Las Vegas", "NV", "West", 36.169941, -115.139830, 0.64, 8.1, 33.5, 0.06),
    ("Minneapolis", "MN", "Midwest", 44.977753, -93.265015, 0.43, -9.4, 23.2, 0.31),
    ("Atlanta", "GA", "South", 33.748997, -84.387985, 0.5, 6.6, 26.9, 0.32),
    ("Miami", "FL", "South", 25.761681, -80.191788, 0.45, 20.1, 29.0, 0.36),
    ("Salt Lake City", "UT", "West", 40.760780, -111.891045, 0.2, -1.1, 26.4, 0.24),
    ("Kansas City", "MO", "Midwest", 39.099728, -94.578568, 0.5, -1.8, 26.3, 0.28),
    ("Pittsburgh", "PA", "Northeast", 40.440624, -79.995888, 0.3, -2.1, 22.8, 0.38),
    ("Buffalo", "NY", "Northeast", 42.886448, -78.878372, 0.25, -4.4, 21.8, 0.45),
    ("Reno", "NV", "West", 39.529633, -119.813805, 0.26, 1.9, 23.4, 0.11),
    ("Allentown", "PA", "Northeast", 40.608431, -75.490183, 0.12, -1.2, 24.2, 0.33),
)

# name, type, city, capacity units/day, opened, quality multiplier (hidden: defects scale with it),
# categories it makes.
FACILITIES: tuple[tuple[str, str, str, int, str, float, tuple[str, ...]], ...] = (
    (
        "Columbus Works",
        "plant",
        "Columbus",
        5200,
        "2011-04-01",
        0.8,
        ("kitchen", "storage", "lighting"),
    ),
    (
        "Reno Assembly",
        "plant",
        "Reno",
        3800,
        "2016-09-15",
        1.45,
        ("outdoor", "furniture", "lighting"),
    ),
    (
        "Atlanta Works",
        "plant",
        "Atlanta",
        4600,
        "2013-02-01",
        1.0,
        ("textiles", "kitchen", "outdoor"),
    ),
    (
        "Dallas Fabrication",
        "plant",
        "Dallas",
        4100,
        "2018-06-01",
        1.15,
        ("furniture", "storage", "outdoor"),
    ),
    (
        "Allentown Mill",
        "plant",
        "Allentown",
        3500,
        "2009-11-01",
        0.65,
        ("textiles", "storage", "kitchen"),
    ),
)

# name, service level, how late it runs (log-factor offset, hidden), weather sensitivity (hidden),
# extra slowness per 1,000 km (hidden).
CARRIERS: tuple[tuple[str, str, float, float, float], ...] = (
    ("SwiftParcel", "express", -0.30, 0.45, 0.05),
    ("Continental Freight", "standard", -0.05, 0.55, 0.12),
    ("BudgetShip", "economy", 0.35, 0.85, 0.18),
    ("Regional Express", "standard", -0.20, 0.60, 0.35),
    ("Coastline Logistics", "standard", 0.10, 0.95, 0.10),
)

# Promised transit days: fixed handling days plus km covered per day, by service level (the keys
# are the contract's SERVICE_LEVELS, in order: tests/test_generator.py checks it).
SERVICE_LEVELS: dict[str, tuple[float, float]] = {
    "express": (1.0, 1400.0),
    "standard": (2.0, 900.0),
    "economy": (3.0, 600.0),
}

# name, type, unit of measure, unit cost, recyclable
MATERIALS: tuple[tuple[str, str, str, float, bool], ...] = (
    ("Cold-rolled steel", "metal", "kg", 1.85, True),
    ("Aluminium sheet", "metal", "kg", 3.40, True),
    ("Stainless steel", "metal", "kg", 4.10, True),
    ("Oak timber", "wood", "kg", 2.90, False),
    ("Birch plywood", "wood", "kg", 1.60, False),
    ("Cotton yarn", "textile", "kg", 3.20, False),
    ("Recycled polyester", "textile", "kg", 2.10, True),
    ("Wool blend", "textile", "kg", 6.80, False),
    ("Tempered glass", "glass", "kg", 1.20, True),
    ("ABS plastic", "plastic", "kg", 2.25, True),
    ("Polypropylene", "plastic", "kg", 1.45, True),
    ("Silicone", "plastic", "kg", 5.50, False),
    ("LED module", "electronics", "kg", 38.00, False),
    ("Copper wire", "metal", "kg", 8.90, True),
    ("Ceramic clay", "ceramic", "kg", 0.65, False),
    ("Corrugated cardboard", "packaging", "kg", 0.55, True),
    ("Foam insert", "packaging", "kg", 1.90, False),
    ("Powder coating", "finish", "kg", 7.20, False),
)

# category (the keys are the contract's PRODUCT_CATEGORIES, in order: tests/test_generator.py
# checks it): (base price range, weight range kg, base defect rate, base return rate,
#            seasonal peak day-of-year, seasonal amplitude, materials used (indexes into MATERIALS),
#            name nouns)
CATEGORIES: dict[str, dict] = {
    "kitchen": {
        "price": (12.0, 180.0),
        "weight": (0.3, 4.0),
        "defect": 0.010,
        "return": 0.04,
        "peak_doy": 340,
        "amplitude": 0.25,
        "materials": (2, 8, 10, 11, 14, 15),
        "nouns": (
            "Saucepan",
            "Chef Knife",
            "Mixing Bowl",
            "Kettle",
            "Cutting Board",
            "Skillet",
            "Colander",
            "Dutch Oven",
            "Measuring Set",
            "Utensil Set",
        ),
    },
    "outdoor": {
        "price": (25.0, 450.0),
        "weight": (1.0, 18.0),
        "defect": 0.016,
        "return": 0.06,
        "peak_doy": 160,
        "amplitude": 0.55,
        "materials": (1, 6, 9, 10, 15, 17),
        "nouns": (
            "Camp Chair",
            "Patio Table",
            "Cooler",
            "Hammock",
            "Fire Pit",
            "Sun Lounger",
            "Parasol",
            "Planter",
            "Grill Cover",
            "Picnic Set",
        ),
    },
    "furniture": {
        "price": (60.0, 900.0),
        "weight": (4.0, 45.0),
        "defect": 0.020,
        "return": 0.07,
        "peak_doy": 250,
        "amplitude": 0.15,
        "materials": (0, 3, 4, 5, 15, 16, 17),
        "nouns": (
            "Side Table",
            "Bookshelf",
            "Desk",
            "Dining Chair",
            "Bench",
            "Coffee Table",
            "Dresser",
            "Bed Frame",
            "Stool",
            "Console",
        ),
    },
    "textiles": {
        "price": (15.0, 220.0),
        "weight": (0.2, 3.5),
        "defect": 0.008,
        "return": 0.09,
        "peak_doy": 330,
        "amplitude": 0.35,
        "materials": (5, 6, 7, 15),
        "nouns": (
            "Throw Blanket",
            "Duvet Cover",
            "Towel Set",
            "Cushion",
            "Rug",
            "Curtain Pair",
            "Table Linen",
            "Bathrobe",
            "Sheet Set",
            "Quilt",
        ),
    },
    "lighting": {
        "price": (20.0, 320.0),
        "weight": (0.4, 6.0),
        "defect": 0.024,
        "return": 0.05,
        "peak_doy": 355,
        "amplitude": 0.40,
        "materials": (1, 8, 9, 12, 13, 15, 16),
        "nouns": (
            "Desk Lamp",
            "Floor Lamp",
            "Pendant Light",
            "String Lights",
            "Wall Sconce",
            "Lantern",
            "Reading Light",
            "Ceiling Fixture",
            "Night Light",
            "Spotlight",
        ),
    },
    "storage": {
        "price": (10.0, 260.0),
        "weight": (0.5, 12.0),
        "defect": 0.012,
        "return": 0.03,
        "peak_doy": 15,
        "amplitude": 0.30,
        "materials": (0, 4, 9, 10, 15),
        "nouns": (
            "Storage Box",
            "Shelf Unit",
            "Basket",
            "Drawer Organizer",
            "Wardrobe Rack",
            "Shoe Rack",
            "Toolbox",
            "Garment Bag",
            "Crate",
            "Pantry Bin",
        ),
    },
}

ADJECTIVES: tuple[str, ...] = (
    "Nordic",
    "Classic",
    "Urban",
    "Coastal",
    "Alpine",
    "Heritage",
    "Modern",
    "Rustic",
    "Compact",
    "Deluxe",
    "Essential",
    "Summit",
    "Harbor",
    "Meadow",
    "Granite",
    "Willow",
)

CHANNEL_WEIGHTS: tuple[float, ...] = (0.46, 0.31, 0.15, 0.08)

SEGMENT_WEIGHTS: tuple[float, ...] = (0.62, 0.22, 0.09, 0.07)

# disposal cost per kg, by DISPOSAL_METHODS
DISPOSAL_COST: tuple[float, ...] = (0.04, 0.11, 0.16, 0.0)

# Feedback comment templates by rating (index 0 = rating 1).
COMMENTS: tuple[tuple[str, ...], ...] = (
    (
        "Arrived a week late and the box was crushed.",
        "Never arrived when promised, very poor.",
        "Damaged on arrival, still waiting for help.",
        "Worst delivery experience so far.",
        "Parcel was left in the rain, item ruined.",
    ),
    (
        "Late again, and no tracking updates.",
        "Delivery was slow, packaging torn.",
        "Took much longer than the promised date.",
        "Driver did not ring, had to collect it.",
    ),
    (
        "Okay, a day later than promised.",
        "Fine, but the box was dented.",
        "Average delivery, nothing special.",
        "Arrived, though tracking was confusing.",
    ),
    (
        "Arrived on time, well packed.",
        "Good delivery, friendly driver.",
        "On time, minor scuff on the box.",
        "Smooth delivery, would order again.",
    ),
    (
        "Perfect, arrived early!",
        "Excellent service, on time and well packed.",
        "Super fast delivery, thank you.",
        "Flawless, exactly as promised.",
        'Great, "left at door" as asked, all good.',
    ),
)

# US holidays and shopping peaks as (month, day) or rules resolved in calendar.py.
HOLIDAY_PEAKS: dict[str, float] = {
    "black_friday": 3.2,
    "cyber_monday": 2.6,
    "christmas_run": 1.5,
    "valentines": 1.3,
    "mothers_day": 1.4,
    "prime_summer": 1.6,
    "christmas_day": 0.35,
    "new_year": 0.6,
}
