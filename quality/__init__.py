"""quality package: Great Expectations gates, freshness, anomaly monitors and alerts (see
docs/architecture.md, "quality")."""
