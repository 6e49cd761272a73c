"""MPI building blocks for runs split over ranks (issue 17): partition, spike exchange, reduction.

What is here (tested under ``mpiexec -n 2`` by tests/test_mpi.py): cores split over ranks by
chips or core blocks (:func:`partition_cores`), the per-tick exchange of the spikes bound for
other ranks' cores as packed arrays through one ``Alltoall`` of counts and one ``Alltoallv`` of
data (:func:`exchange`), counters summed onto rank 0 (:func:`reduce_counts`), and the rule that
an error on any rank prints one line and aborts the communicator (:func:`abort_on_error`),
so no rank waits for ever on a dead peer.

The tick loop that uses them is :mod:`neuroemu.engine.ranks`; :func:`launched_size` tells a
process started by ``mpiexec`` from a plain one without importing mpi4py.

mpi4py and an MPI come as wheels with ``pip install neuroemu[mpi]`` (mpi4py + mpich);
:func:`world` says so in one line when they are missing.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from neuroemu.errors import ConfigError, NeuroEmuError

#: seconds a failing rank waits after its error line before it aborts every rank (see abort_on_error)
ABORT_GRACE_S = 0.5

INSTALL_HINT = "pip install 'neuroemu[mpi]' (mpi4py and MPICH as wheels)"


def world():
    """``MPI.COMM_WORLD``; a one-line :class:`NeuroEmuError` when mpi4py (or its MPI) is missing."""
    try:
        from mpi4py import MPI
    except ImportError as exc:  # mpi4py absent, or present without an MPI library to load
        raise NeuroEmuError(f"MPI runs need mpi4py and an MPI: {INSTALL_HINT} ({exc})") from None
    return MPI.COMM_WORLD


#: environment variables in which launchers give the world size (MPICH/Hydra, Open MPI, PMIx)
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")


def launched_size(environ=None) -> int:
    """How many ranks ``mpiexec`` started this process among (1 when not launched by it), read
    from the launcher's environment, so a plain run never imports mpi4py."""
    environ = os.environ if environ is None else environ
    for name in SIZE_VARIABLES:
        value = environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def launched_rank(environ=None) -> int:
    """This process's rank as ``mpiexec`` started it (0 when not launched by it)."""
    environ = os.environ if environ is None else environ
    for name in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        value = environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def mpiexec_path() -> str | None:
    """The ``mpiexec`` beside this Python (the mpi extra's MPICH wheel), else one on PATH."""
    return shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def partition_cores(n_cores: int, n_ranks: int, chip_of_core: np.ndarray | None = None) -> np.ndarray:
    """int32 [n_cores]: the rank that holds each core.

    With ``chip_of_core`` (a system, :func:`neuroemu.hardware.system.chip_of_core`) and at
    least as many chips as ranks, whole chips go to ranks in contiguous blocks (chip c to rank
    ``c * n_ranks // n_chips``), so on-chip traffic never crosses ranks; otherwise cores go in
    contiguous blocks (core i to rank ``i * n_ranks // n_cores``). Block sizes differ by at most
    one chip or core. More ranks than cores is bad input.
    """
    if not isinstance(n_ranks, (int, np.integer)) or n_ranks < 1:
        raise ConfigError(f"ranks: must be an integer >= 1; got {n_ranks!r}")
    if n_ranks > n_cores:
        raise ConfigError(f"ranks: {n_ranks} ranks for {n_cores} cores: at most one rank per core")
    if chip_of_core is not None:
        chip_of_core = np.asarray(chip_of_core, np.int64)
        n_chips = int(chip_of_core.max(initial=-1)) + 1
        if n_chips >= n_ranks:
            return (chip_of_core * n_ranks // n_chips).astype(np.int32)
    return (np.arange(n_cores, dtype=np.int64) * n_ranks // n_cores).astype(np.int32)


def pack_by_rank(dest_rank: np.ndarray, payload: np.ndarray, n_ranks: int) -> tuple[np.ndarray, np.ndarray]:
    """(counts [n_ranks], rows of ``payload`` grouped by destination rank, stably in their order)."""
    dest_rank = np.asarray(dest_rank, np.int64)
    payload = np.asarray(payload)
    if payload.shape[0] != dest_rank.shape[0]:
        raise NeuroEmuError(f"pack_by_rank: {payload.shape[0]} rows for {dest_rank.shape[0]} destinations")
    if dest_rank.size and (dest_rank.min() < 0 or dest_rank.max() >= n_ranks):
        raise NeuroEmuError(f"pack_by_rank: destination ranks must be in [0, {n_ranks})")
    order = np.argsort(dest_rank, kind="stable")
    return np.bincount(dest_rank, minlength=n_ranks).astype(np.int64), np.ascontiguousarray(payload[order])


def exchange(comm, dest_rank: np.ndarray, payload: np.ndarray) -> np.ndarray:
    """Send each row of ``payload`` (int64 [k, m]) to rank ``dest_rank[row]``; return the rows this
    rank receives (int64 [k', m]), by source rank, each source's rows in its own order.

    One ``Alltoall`` of row counts, one ``Alltoallv`` of the packed rows: two collectives per
    exchange, whatever the spike count. Every rank must call it (with k = 0 rows if it sends none).
    """
    from mpi4py import MPI
    payload = np.asarray(payload, np.int64)
    if payload.ndim != 2:
        raise NeuroEmuError(f"exchange: payload must be 2-D [rows, fields]; got shape {payload.shape}")
    size, width = comm.Get_size(), payload.shape[1]
    counts, packed = pack_by_rank(dest_rank, payload, size)
    recv_counts = np.empty(size, np.int64)
    comm.Alltoall(counts, recv_counts)
    send = counts * width
    recv = recv_counts * width
    out = np.empty(int(recv.sum()), np.int64)
    sdispl = np.concatenate(([0], np.cumsum(send)[:-1]))
    rdispl = np.concatenate(([0], np.cumsum(recv)[:-1]))
    comm.Alltoallv([packed.ravel(), send, sdispl, MPI.INT64_T], [out, recv, rdispl, MPI.INT64_T])
    return out.reshape(-1, width)


def reduce_counts(comm, counts: dict[str, int]) -> dict[str, int] | None:
    """Integer counters summed over all ranks onto rank 0 (None on the others); a counter a rank
    lacks counts 0 there. Sums are int64, so the total is exact."""
    names = sorted(set().union(*comm.allgather(sorted(counts))))
    local = np.array([int(counts.get(k, 0)) for k in names], np.int64)
    total = np.zeros_like(local) if comm.Get_rank() == 0 else None
    from mpi4py import MPI
    comm.Reduce(local, total, op=MPI.SUM, root=0)
    return None if total is None else {k: int(v) for k, v in zip(names, total)}


@contextlib.contextmanager
def abort_on_error(comm, stream=None):
    """Any exception on any rank: print ``Error (rank r): ...`` in one line and abort the whole
    communicator (every rank exits, exit code 1), so no peer blocks in a collective for ever."""
    try:
        yield
    except BaseException as exc:  # noqa: BLE001 - every failure must take the job down, not hang it
        if isinstance(exc, SystemExit) and not exc.code:
            raise
        text = " ".join(str(exc).split()) or type(exc).__name__
        print(f"Error (rank {comm.Get_rank()}): {text}", file=stream or sys.stderr, flush=True)
        # the line is in the pipe to mpiexec's forwarder, which Abort kills with this rank: give it
        # time to pass the line on first (without this the line was lost now and then)
        time.sleep(ABORT_GRACE_S)
        comm.Abort(1)


def local_size(size: int, environ=None) -> int:
    """Ranks sharing this machine (and its memory), from the launcher's environment; ``size`` if unknown
    (read without a collective, so a rank may check its memory before the others have agreed)."""
    environ = os.environ if environ is None else environ
    for name in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE"):
        if environ.get(name, "").isdigit():
            return int(environ[name])
    return size


def agree_on_setup(comm, error: BaseException | None) -> None:
    """Every rank says whether its setup failed (one ``allgather``, the first collective of a run);
    if any did, every rank raises the error of the lowest failing rank, in one line, so the CLI
    prints the same line on rank 0 and no rank waits in a collective for a peer that never comes."""
    mine = None
    if error is not None:
        kind = type(error) if isinstance(error, NeuroEmuError) else NeuroEmuError
        mine = (kind, " ".join(str(error).split()) or type(error).__name__)
    failed = comm.allgather(mine)
    first = next((r for r, e in enumerate(failed) if e is not None), None)
    if first is None:
        return
    if first == comm.Get_rank():
        raise error
    kind, text = failed[first]
    raise kind(text if first == 0 else f"(rank {first}) {text}")
