"""ingestion package (see ../shared/ARCHITECTURE.md)."""
