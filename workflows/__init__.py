"""Routing of filings between departments and the hash-chained logbook (bitácora)."""
