"""quality package (see ../shared/ARCHITECTURE.md)."""
