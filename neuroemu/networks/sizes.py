"""Memory and range pre-checks for networks read from files (edge lists and NIR graphs).

A small file can imply enormous arrays: an edge list naming neuron 2**40 implies per-neuron
arrays of 2**40 entries (tens of TiB), a NIR ``Input`` node can declare a shape of a trillion
elements. Generated networks are checked before they are built
(:func:`neuroemu.networks.workloads.check_memory`); the file readers pass the ids and counts a
file implies to :func:`check_count` the same way, before allocating anything, and get one line
naming the file, the array, the largest id and the memory the arrays would need::

    huge.npz: dst: largest id 1,099,511,627,776 means 1,099,511,627,777 neurons, whose arrays need
    at least 49.0 TiB: more neurons than the largest chip can have (68,719,476,736)

The limits: no chip the schema describes has more than :data:`MAX_IDS` neurons (or axons), and
a network may use :data:`MEMORY_SHARE` of the memory available, as a generated one may. Whether
the network fits the chip it runs on is checked when it is mapped (neuroemu.networks.compile),
which these limits guarantee can be allocated.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

from neuroemu.errors import CapacityError
from neuroemu.networks.graph import NEURON_FIELDS, Group

__all__ = ["INPUT_BYTES", "MAX_IDS", "MEMORY_SHARE", "NEURON_BYTES", "available_memory_bytes", "check_count",
           "check_edge_arrays", "check_groups", "check_npz_headers", "format_bytes"]

#: the largest chip the schema allows: ChipSpec.cores <= 2**20 cores of CoreSpec.neurons <= 65,536
MAX_IDS = (1 << 20) * 65536
#: the share of the available memory a network may take (the rule generated networks follow)
MEMORY_SHARE = 0.8
#: bytes per neuron of the arrays a reader builds (NEURON_FIELDS: float64, reset_subtract bool)
NEURON_BYTES = sum(np.dtype(bool if f == "reset_subtract" else np.float64).itemsize for f in NEURON_FIELDS)
#: bytes per input at least: one int64 id per input when inputs are mapped to axons
INPUT_BYTES = np.dtype(np.int64).itemsize


def available_memory_bytes() -> int:
    """Memory the process may still use (MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units, e.g. 49.0 TiB."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024:
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"


def check_count(where: str, array: str, largest_id: int, what: str, bytes_each: int) -> None:
    """Refuse ``largest_id + 1`` ``what`` (found in ``array`` of file ``where``) when no chip or memory holds them."""
    count = largest_id + 1
    need = count * bytes_each
    if count > MAX_IDS:
        reason = f": more {what} than the largest chip can have ({MAX_IDS:,})"
    else:
        have = available_memory_bytes()
        if need <= MEMORY_SHARE * have:
            return
        reason = f", but only {format_bytes(have)} of memory is available"
    raise CapacityError(f"{where}: {array}: largest id {largest_id:,} means {count:,} {what}, whose arrays need at least "
                        f"{format_bytes(need)}{reason}")


def _largest(a) -> int | None:
    """The largest value of an id array (None when empty or not numbers: the reader reports those)."""
    a = np.asarray(a)
    if a.size == 0 or a.dtype.kind not in "iuf":
        return None
    top = a.max()
    return int(top) if np.isfinite(top) else None


def check_edge_arrays(where: str, arrays: dict[str, np.ndarray], src_input: np.ndarray) -> None:
    """An edge list's counts (the ``.npz`` layout; CSV is read into it) checked before the arrays they
    imply are allocated. The counts come as the reader takes them (neuroemu.networks.edgelist): the
    neurons from the neuron arrays (already in memory: nothing to check), else ``n_neurons``, else
    the largest neuron id; the inputs from ``n_inputs``, else the largest input id. Ids beyond a
    given count are the reader's error, not an allocation."""
    src = np.asarray(arrays["src"])
    is_input = src_input if src_input.dtype == bool and src_input.shape == src.shape else np.zeros(src.shape, bool)

    def given(key: str) -> list[tuple[int, str]]:
        top = _largest(np.atleast_1d(arrays[key])) if key in arrays and np.ndim(arrays[key]) == 0 else None
        return [] if top is None else [(top - 1, key)]

    if not any(f in arrays for f in NEURON_FIELDS):
        neurons = given("n_neurons") if "n_neurons" in arrays else [
            (top, name) for name, top in (("dst", _largest(arrays["dst"])), ("src", _largest(src[~is_input])))
            if top is not None]
        if neurons:
            check_count(where, max(neurons)[1], max(neurons)[0], "neurons", NEURON_BYTES)
    inputs = given("n_inputs") if "n_inputs" in arrays else [
        (top, name) for name, top in (("src", _largest(src[is_input])), ("input_ids", _largest(arrays.get("input_ids", []))))
        if top is not None]
    if inputs:
        check_count(where, max(inputs)[1], max(inputs)[0], "inputs", INPUT_BYTES)


def check_groups(where: str, groups: list[Group], what: str, bytes_each: int) -> None:
    """Groups of neurons or inputs with declared sizes (a NIR graph's nodes), checked before their arrays exist."""
    if groups:
        biggest = max(groups, key=lambda g: g.size)
        check_count(where, f"node {biggest.name!r} ({biggest.model})", sum(g.size for g in groups) - 1, what,
                    bytes_each)


def check_npz_headers(path, where: str) -> None:
    """An ``.npz`` file's arrays sized from their ``.npy`` headers before any is read.

    A compressed file of a few kilobytes can hold an array of terabytes of zeros; numpy allocates
    an array from its header's shape before it reads the data. The headers are read here (a few
    hundred bytes each) and the arrays' total checked against memory as the readers' counts are.
    Members that are not ``.npy`` arrays, or a file that is not a zip, are left to the reader's
    own error.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return
    total, biggest, biggest_name = 0, 0, ""
    with zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            try:
                with zf.open(info) as f:
                    major, _ = np.lib.format.read_magic(f)
                    read_header = (np.lib.format.read_array_header_1_0 if major == 1
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(f)
            except (ValueError, OSError, zipfile.BadZipFile, EOFError, RuntimeError):
                continue  # the reader says what is wrong with it
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            total += nbytes
            if nbytes >= biggest:
                biggest, biggest_name = nbytes, info.filename[:-4]
    have = available_memory_bytes()
    if total > MEMORY_SHARE * have:
        raise CapacityError(f"{where}: {biggest_name}: the file's arrays expand to {format_bytes(total)} "
                            f"({format_bytes(biggest)} in {biggest_name!r}), but only {format_bytes(have)} of "
                            "memory is available")
