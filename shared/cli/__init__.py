"""The `localgpt` command line."""

from shared.cli.main import app, main

__all__ = ["app", "main"]
