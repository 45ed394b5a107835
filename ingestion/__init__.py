"""ingestion package: table contracts and the bulk loader of landing files into bronze (see
docs/architecture.md, "ingestion")."""
