"""neuroemu: an event-driven, discrete-event emulator of neuromorphic chips.

The public API: :func:`simulate` runs a workload on a chip and returns a frozen
:class:`RunResult`; :func:`load_chip` and :func:`load_workload` read YAML into
validated specs; :func:`workload_for_network_file` makes a workload of a NIR graph or an edge
list, which :func:`simulate` maps onto the chip. Every user error is a :class:`NeuroEmuError`.
"""
from neuroemu.version import __version__
from neuroemu.config import load_chip, load_workload
from neuroemu.config.loader import workload_for_network_file
from neuroemu.errors import NeuroEmuError
from neuroemu.engine.record import RunResult
from neuroemu.engine.run import simulate
from neuroemu.studies.sweep import sweep


def load_nir(path, *, dt: float | None = None, reset: str | None = None, **options):
    """Read a NIR graph into a chip-independent network (needs the extra neuroemu[nir]).

    ``exporter=`` (``snntorch``, ``norse``, ``nir``; default: as the file shows) picks the framework's
    conventions, which give dt, reset and method where they are not given (docs/nir-exporters.md)."""
    from neuroemu.networks.nir import load_nir as _load_nir
    return _load_nir(path, dt=dt, reset=reset, **options)


__all__ = ["NeuroEmuError", "RunResult", "__version__", "load_chip", "load_nir", "load_workload", "simulate",
           "sweep", "workload_for_network_file"]
