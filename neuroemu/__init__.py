"""neuroemu: an event-driven, discrete-event emulator of neuromorphic chips.

The public API: :func:`simulate` runs a workload on a chip and returns a frozen
:class:`RunResult`; :func:`load_chip` and :func:`load_workload` read YAML into
validated specs. Every user error is a :class:`NeuroEmuError`.
"""
__version__ = "0.1.0"

from .config import load_chip, load_workload  # noqa: E402
from .errors import NeuroEmuError  # noqa: E402
from .record import RunResult  # noqa: E402
from .simulate import simulate  # noqa: E402

__all__ = ["NeuroEmuError", "RunResult", "__version__", "load_chip", "load_workload", "simulate"]
