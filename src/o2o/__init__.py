"""o2o: an open-source online-to-offline city platform."""

__version__ = "0.1.0"
