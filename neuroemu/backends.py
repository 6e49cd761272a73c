"""Choosing between a C extension and its pure-Python/numpy twin (DESIGN style rule 7).

Every such choice works the same way: an explicit name wins, else one environment variable,
else "c"; an unknown name lists the valid ones; asking for C when the extension is not built says
how to build it or which twin to pick instead.
"""
from __future__ import annotations

import os

from neuroemu.errors import NeuroEmuError


def choose_backend(name: str | None, env: str, valid: tuple[str, ...], c_built: bool, what: str,
                   fallback: str) -> str:
    """The backend to use for ``what``; see the module docstring for the rules."""
    name = name or os.environ.get(env, "c")
    if name not in valid:
        raise NeuroEmuError(f"{env}: unknown {what} backend {name!r}; valid: {', '.join(valid)}")
    if name == "c" and not c_built:
        raise NeuroEmuError(f"the C {what} is not built; run `pip install -e .` (or make run) first, "
                            f"or set {env}={fallback}")
    return name
