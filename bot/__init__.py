"""KIE video bot."""

__version__ = "0.1.0"
