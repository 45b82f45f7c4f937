"""The version of the polyfork Python client, in one place (pyproject.toml reads it here)."""

__version__ = "0.2.0"
