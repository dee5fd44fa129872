"""The deterministic demo city."""
