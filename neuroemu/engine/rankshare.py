"""What the two loops split over MPI ranks share (issue 17): a rank's own routes and its memory.

The tick split (:mod:`neuroemu.engine.ranks`) and the clockless split
(:mod:`neuroemu.engine.asyncranks`) hold, bind, count and price the same things the same way:

- **its own neurons' routes** (:func:`own_routes`): the routes whose source neuron sits on the
  rank's cores, copied out of the part it built alone or out of the whole network before that is
  dropped, numbered from its first neuron. A rank binds only these to its router, so its route
  tables and the router's per-route closed forms are its share, not the system's.
- **priced at the sender, summed on rank 0** (:func:`reduce_prices`): each rank prices its own
  routes in integers (:meth:`neuroemu.hardware.chip.Router.prices`: hops per link class, routed
  spikes, wire in nm, packets per link, a latency histogram of distinct ps values and spike
  counts) and rank 0 sums them (``Reduce``; the histograms gathered and merged). Every float of
  the record (energies, wire per spike, latency percentiles, link utilisation) is computed once
  from these sums on rank 0, so it is bit for bit the one-process run's.
- **memory per rank** (:func:`rank_bytes`, :func:`check_rank_memory`): about the total / N plus
  its routing, estimated and checked before anything is built. One estimate for both loops; what
  differs is a parameter (``clockless``): the clockless loop keeps per own neuron an exact
  continuous-time state and its C window kernel's records (:data:`CLOCKLESS_BYTES_PER_NEURON`,
  :data:`CLOCKLESS_BYTES_PER_AXON`) and a route's delay in ps with its latency
  (:data:`CLOCKLESS_ROUTE_BYTES_PER_NEURON`) instead of the tick loop's C route pass.

This module sits below both loops (ranks.py names its async twin, so the async split cannot
import ranks.py without an import circle).
"""
from __future__ import annotations

import numpy as np

from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.engine.mpi import reduce_counts
from neuroemu.errors import CapacityError
from neuroemu.hardware.asynctn import _ROW_BITS_MAX
from neuroemu.hardware.chip import latency_counts
from neuroemu.hardware.cores import CoreArrays
from neuroemu.hardware.system import routing_bytes
from neuroemu.networks.blocks import block_cores
from neuroemu.networks.chippart import chip_part_transient_bytes
from neuroemu.networks.partsize import mapped_rank_bytes
from neuroemu.networks.sizes import available_memory_bytes
from neuroemu.networks.workloads import PER_SYNAPSE_KINDS, builds_alone, builds_by_block, estimate_bytes, maps_by_part

#: bytes per own neuron of the routes the tick split binds, besides the router's per-route closed
#: forms (counted by routing_bytes): the route tables (source, target, delay: 3 x int64), the C
#: route pass's 16-byte record, the spike count (int64), the built routes (int64 target, int8
#: delay) and the flag (sends)
ROUTE_BYTES_PER_NEURON = 24 + 16 + 8 + 9 + 1
#: ... and the clockless split's: the route tables (3 x int64), each route's delay in ps and its
#: latency (2 x int64), the flag (sends), the spike count at the end (int64) and the C window
#: kernel's arrival buffers (times and axons: 2 x int64)
CLOCKLESS_ROUTE_BYTES_PER_NEURON = 24 + 16 + 1 + 8 + 16
#: bytes per own neuron of the clockless loop's state beyond the network's arrays, for TrueNorth
#: neurons on the C window kernel (the largest; CUBA's float state has no kernel records): the
#: continuous-time model (14 int64 arrays: drifts, steps, thresholds, resets, floors, v, times,
#: update counts, drawn thresholds) and its keys for stochastic leaks and thresholds (2 x
#: uint64), the next crossing, the queued check and the window's marks (2 x int64 + bool), its
#: own neurons' ids (int64), and the kernel's 64-byte record, flag, update list, touched list,
#: spike buffers, step weights, stochastic ids and magnitudes and enabled copy (6 x int64 + 2), the
#: counted pass's sums (3 x int32), the leak steps' limits and buffer (a byte, 4 x uint64 + ~1)
#: and the steps apart from the records (a count and an instant: a byte and an int64)
CLOCKLESS_BYTES_PER_NEURON = 14 * 8 + 2 * 8 + 2 * 8 + 1 + 8 + 64 + 6 * 8 + 2 + 3 * 4 + 1 + 4 * 8 + 1 + 1 + 8
#: ... per neuron and axon type: the weights per type as the window reads them (int64), the
#: kernel's cache-aligned copy, the counted pass's weights by sign (2 x int32) and, while they
#: are bound, the quotient by the scale in type-major order (int64)
CLOCKLESS_BYTES_PER_NEURON_TYPE = 2 * 8 + 2 * 4 + 8
#: ... and per own axon: the row lengths and the kernel's row pointers and last-seen instants
#: (3 x int64) and its axon types (int8); the kernel also keeps the crossbar as bits (neurons
#: per core / 8 bytes an axon) when those fit :data:`neuroemu.hardware.asynctn._ROW_BITS_MAX`
CLOCKLESS_BYTES_PER_AXON = 3 * 8 + 1
#: bytes per neuron of the system that every rank still holds whole: the enabled flags (bool),
#: which the record's neuron count and the timing policies read
WHOLE_BYTES_PER_NEURON = 1


def own_routes(arrays: CoreArrays, part: CoreArrays | None, g0: int, n: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(source neuron numbered from ``g0``, target axon, delay, route pointer) of the routes of
    the neurons ``g0 .. g0 + n - 1``: copied from ``part`` (their cores built alone, exactly these
    neurons) or out of the whole ``arrays``. The pointer (fan-out arrays: neuron i's routes are
    ``ptr[i] .. ptr[i + 1] - 1``) is None for one route per neuron (route i is neuron i)."""
    if part is not None and part.fanout_ptr is not None:  # a mapped part: its own fan-out (the shell has none)
        arrays, g0 = part, 0
    if arrays.fanout_ptr is not None:
        lo, hi = int(arrays.fanout_ptr[g0]), int(arrays.fanout_ptr[g0 + n])
        ptr = arrays.fanout_ptr[g0:g0 + n + 1] - lo
        src = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr))
        return src, arrays.fanout_axon[lo:hi].astype(np.int64), arrays.fanout_delay[lo:hi].astype(np.int64), ptr
    target, delay = ((part.target_axon, part.delay) if part is not None
                     else (arrays.target_axon[g0:g0 + n], arrays.delay[g0:g0 + n]))
    return np.arange(n, dtype=np.int64), target.astype(np.int64), delay.astype(np.int64), None


def reduce_prices(comm, priced: dict) -> dict | None:
    """Every rank's priced routes (:meth:`neuroemu.hardware.chip.Router.prices`) summed onto rank 0
    (None on the others): hops per class and packets per link with one ``Reduce`` each, routed
    spikes and wire (nm) as counters, and the latency histograms gathered and merged into the
    one-process run's exact distribution. Every rank must call it."""
    from mpi4py import MPI
    rank = comm.Get_rank()
    sums = {}
    for key in ("class_hops", "link_loads"):
        mine = np.ascontiguousarray(priced[key], np.int64)
        sums[key] = np.zeros_like(mine) if rank == 0 else None
        comm.Reduce(mine, sums[key], op=MPI.SUM, root=0)
    scalars = reduce_counts(comm, {"routed": priced["routed"], "wire_nm": priced["wire_nm"]})
    histograms = comm.gather(priced["latency"], root=0)
    if rank != 0:
        return None
    return dict(sums, **scalars, latency=latency_counts(np.concatenate([h[0] for h in histograms]),
                                                        np.concatenate([h[1] for h in histograms])))


def rank_bytes(chip: ChipSpec, workload: WorkloadSpec, ranks: int, clockless: bool = False) -> dict[str, int]:
    """Bytes one of ``ranks`` ranks needs, before anything is built.

    ``held``: the network state it keeps (its share of the cores: the largest rank's whole blocks
    when it builds its own cores, else the total / ranks); ``build``: its peak while building (its
    share alone when built by blocks, the whole network when built whole and sliced); ``routes``:
    its own neurons' routes (:data:`ROUTE_BYTES_PER_NEURON` a neuron of its share, or
    :data:`CLOCKLESS_ROUTE_BYTES_PER_NEURON` with ``clockless``) and the flags held whole
    (:data:`WHOLE_BYTES_PER_NEURON`); ``routing``: the router's graph and the per-route closed forms
    of its own routes (:func:`neuroemu.hardware.system.routing_bytes`); ``state``: with
    ``clockless``, the continuous-time state and window kernel of its own neurons and axons
    (:data:`CLOCKLESS_BYTES_PER_NEURON`, :data:`CLOCKLESS_BYTES_PER_AXON`, the crossbar as bits,
    packed in place: ``ak_pack_row_bits`` takes no scratch), else 0 (the tick stepper works on the
    network's arrays). ``by_block``: whether it builds only its own cores
    (generated networks on a system: neuroemu.networks.blocks); ``cores``: the largest rank's cores.
    ``by_part``: whether it builds only its own cores (by blocks or not: a single chip's share is
    drawn from the whole chip's streams, :func:`neuroemu.networks.chippart.chip_part_transient_bytes`
    more while it builds). A mapped network (``by_part``, with ``graph`` and ``mapping``):
    :func:`neuroemu.networks.partsize.mapped_rank_bytes` (its clockless state not counted yet)."""
    if maps_by_part(chip, workload):  # a mapped network: read and placed whole, its arrays by share
        return dict(mapped_rank_bytes(chip, workload, ranks), state=0)
    mapped = workload.network.kind in ("nir", "edgelist")
    whole = estimate_bytes(chip, workload.network) if not mapped else 0
    by_block = not mapped and builds_by_block(chip, workload)
    alone = not mapped and builds_alone(chip, workload)  # its own cores built alone (by blocks or not)
    if by_block:
        block = block_cores(chip)
        n_blocks = -(-chip.cores // block)
        share = min(chip.cores, -(-n_blocks // ranks) * block)  # the largest rank's cores
        held = -(-whole * share // chip.cores)
        build = held
    else:
        share = -(-chip.cores // ranks)  # contiguous cores (or whole chips: no more than this on a grid)
        held, build = -(-whole // ranks), whole
        if alone:  # a single chip: its share, drawn from the whole chip's streams
            build = held + chip_part_transient_bytes(chip)
    neurons = share * chip.core.neurons
    whole_flags = WHOLE_BYTES_PER_NEURON * chip.cores * chip.core.neurons
    per_route = CLOCKLESS_ROUTE_BYTES_PER_NEURON if clockless else ROUTE_BYTES_PER_NEURON
    routes = 0 if mapped else per_route * neurons + whole_flags
    state = 0
    if clockless and not mapped:
        core, axons = chip.core, share * chip.core.axons
        per_neuron = CLOCKLESS_BYTES_PER_NEURON + CLOCKLESS_BYTES_PER_NEURON_TYPE * core.axon_types
        state = per_neuron * neurons + CLOCKLESS_BYTES_PER_AXON * axons
        if workload.network.kind not in PER_SYNAPSE_KINDS and axons * core.neurons <= _ROW_BITS_MAX:
            state += axons * core.neurons // 8  # the crossbar as bits
    return {"build": build, "held": held, "routes": routes, "routing": routing_bytes(chip, routes=neurons),
            "state": state, "by_block": int(by_block), "by_part": int(alone), "cores": share}


def rank_peak(need: dict[str, int]) -> int:
    """A rank's peak from :func:`rank_bytes`: while it builds, its routing, routes and state are held
    too."""
    return need["build"] + need["routes"] + need["routing"] + need["state"]


def check_rank_memory(chip: ChipSpec, workload: WorkloadSpec, ranks: int, local_ranks: int,
                      clockless: bool = False) -> dict[str, int]:
    """Refuse, before anything is built, a run whose ``local_ranks`` ranks on this machine would not
    fit in 80 % of its free memory (each needs its routing and routes, with ``clockless`` its
    neurons' continuous-time state, and, while it builds, its share of the network, or the whole
    network when it cannot build its share alone); return the per-rank estimate."""
    need = rank_bytes(chip, workload, ranks, clockless)
    peak = rank_peak(need)
    have = available_memory_bytes()
    if local_ranks * peak > 0.8 * have:
        building = ("the graph and its mapping whole and its share of the arrays" if "graph" in need
                    else "its share of the network" if need["by_part"] else "the network built whole")
        state = f", {need['state'] / 2**30:.2f} GiB of clockless state" if clockless else ""
        raise CapacityError(
            f"{workload.where}: {local_ranks} {'async ' if clockless else ''}ranks on this machine need about "
            f"{local_ranks * peak / 2**30:.1f} GiB (per rank: {need['build'] / 2**30:.2f} GiB for {building}, "
            f"{need['routes'] / 2**30:.2f} GiB of routes, {need['routing'] / 2**30:.2f} GiB of routing{state}) "
            f"but only {have / 2**30:.1f} GiB is available")
    return need
