"""BI serving on the marts: Tableau extracts and data sources, Excel reports (issue 17)."""
