"""neuroemu: an event-driven, discrete-event emulator of neuromorphic chips.

The public API: :func:`simulate` runs a workload on a chip and returns a frozen
:class:`RunResult`; :func:`load_chip` and :func:`load_workload` read YAML into
validated specs; :func:`workload_for_network_file` makes a workload of a NIR graph or an edge
list, which :func:`simulate` maps onto the chip. Every user error is a :class:`NeuroEmuError`.
"""
__version__ = "0.1.0"

from .config import load_chip, load_workload  # noqa: E402
from .config.loader import workload_for_network_file  # noqa: E402
from .errors import NeuroEmuError  # noqa: E402
from .record import RunResult  # noqa: E402
from .simulate import simulate  # noqa: E402
from .sweep import sweep  # noqa: E402  (shadows the module name: use importlib for neuroemu.sweep itself)


def load_nir(path, *, dt: float, reset: str = "zero", **options):
    """Read a NIR graph into a chip-independent network (needs the extra neuroemu[nir])."""
    from .nir_import import load_nir as _load_nir
    return _load_nir(path, dt=dt, reset=reset, **options)


__all__ = ["NeuroEmuError", "RunResult", "__version__", "load_chip", "load_nir", "load_workload", "simulate",
           "sweep", "workload_for_network_file"]
