"""Store tables (merchants and stores; the demo city seeds them)."""
