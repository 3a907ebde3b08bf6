"""The package version (read by pyproject.toml and ``pwave --version``)."""

__version__ = "0.1.0"
