"""Where a command's text output goes: stdout for "-", else a file; a file that cannot be written
is one line naming it, never a traceback."""
from __future__ import annotations

from pathlib import Path

import click


def write_or_echo(text: str, dest: str) -> None:
    """``text`` to stdout when ``dest`` is "-", else into the file ``dest`` (with a final newline)."""
    if dest == "-":
        click.echo(text)
        return
    try:
        Path(dest).write_text(text + "\n")
    except OSError as exc:
        raise click.ClickException(f"{dest}: cannot write ({exc.strerror})") from None
