"""ml package (see ../shared/ARCHITECTURE.md)."""
