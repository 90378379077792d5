"""Results -> text: JSON-ready records, terminal tables and CSV, all safe for hostile strings."""
