"""The keras-lt version (read by packaging without importing the package)."""

__version__ = "0.1.0"
