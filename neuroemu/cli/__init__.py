"""The command line: one thin click module per command group; library errors become one line."""
from neuroemu.cli.app import main

__all__ = ["main"]
