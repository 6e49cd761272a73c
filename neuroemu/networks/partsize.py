"""What one MPI rank needs to build and hold its share of a mapped network (issue 17).

Split over N ranks, every rank reads the graph file, quantises and places it whole, and sorts
every edge's axon key; then it writes the arrays of its own share of the cores used alone
(networks/compile.py, "Built by ranks"). So a rank's memory is

- ``graph``: the network as read (every array of :class:`~neuroemu.networks.graph.Network`,
  counted exactly), held by every rank while it builds;
- ``mapping``: the transient arrays of quantising, placing and laying out every edge
  (:data:`MAP_BYTES_PER_EDGE` an edge), also whole on every rank. On TrueNorth a synapse is
  one crossbar point per bit (up to ``axon_types`` axon copies of its source) on each copy of
  its target (a neuron with k destinations is k copies, each with every input): counted as
  ``axon_types`` x ``axon_types`` edges a synapse, an assumption (a network whose neurons reach
  more destinations, several delays to several cores, has more copies; placement refuses those
  that do not settle);
- ``held``: its own cores' arrays -- per neuron, per axon and per crossbar point (the bytes of
  :func:`array_bytes_per`) -- for the largest rank's share of the cores used.

The cores used are known only once placed; before, they are bounded by the chip's cores and
the graph's neurons (``spread`` puts one neuron a core), so the share is ceil(that / N) cores,
an upper bound. Crossbar points and routes are bounded by the edges, taken as split evenly
(a rank whose cores take more than their share of the edges needs more: the estimate says
so). :func:`mapped_rank_bytes` gives the figures in the shape of
:func:`neuroemu.engine.ranks.rank_bytes`, which the ranks check before building.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.hardware.system import routing_bytes
from neuroemu.models.loihi import CubaArrays
from neuroemu.models.neuron import NeuronArrays, neuron_model
from neuroemu.networks.graph import Network

__all__ = ["MAP_BYTES_PER_EDGE", "array_bytes_per", "graph_bytes", "mapped_rank_bytes"]

#: peak transient bytes per edge of quantising, placing and laying out a graph: 154 measured by
#: tracemalloc for map_network of a 200,000-edge, 4,000-neuron graph on Loihi (pack), rounded up
MAP_BYTES_PER_EDGE = 160
#: bytes of one route a rank binds besides its arrays (source, target, delay int64; the C route
#: pass's record; the spike count): engine/ranks.py's ROUTE_BYTES_PER_NEURON, per route
ROUTE_BYTES = 24 + 16 + 8 + 9 + 1


def graph_bytes(net: Network) -> int:
    """Bytes of every array of a network as read."""
    return int(sum(v.nbytes for f in dataclasses.fields(net) if isinstance(v := getattr(net, f.name), np.ndarray)))


def array_bytes_per(chip: ChipSpec) -> dict[str, int]:
    """Bytes a mapped network's arrays take per neuron, axon, crossbar point and fan-out route on
    ``chip`` (networks/compile.py writes them): the state, weights per type, parameters, routes
    and file id of a neuron; the axon's type, row pointer and delay; the point's column (and
    weight, per-synapse chips); a fan-out route's target and delay."""
    core = chip.core
    kernel = neuron_model(core.neuron_model).kernel
    params = CubaArrays.uniform(1) if kernel == "cuba" else NeuronArrays.uniform(1)
    per_params = sum(getattr(params, f.name).nbytes for f in dataclasses.fields(params)
                     if getattr(params, f.name) is not None)
    neuron = 4 + 2 * core.axon_types + per_params + 8 + 1 + 8  # v, weights, params, target, delay, file id
    if kernel == "cuba":
        neuron += 4 + 4 + 8  # current, refractory count, fan-out pointer
    point = (1 if core.neurons <= 256 else 2) + (0 if kernel == "truenorth" else 2)
    return {"neuron": neuron, "axon": 1 + 8 + 8, "point": point, "route": 0 if kernel == "truenorth" else 8 + 1,
            "core": 8 + 8}  # its chip core; the row pointer's one more entry (per rank, counted per core)


def mapped_rank_bytes(chip: ChipSpec, workload: WorkloadSpec, ranks: int, net: Network | None = None) -> dict[str, int]:
    """Bytes the largest of ``ranks`` ranks needs for a mapped network (module docstring):
    ``build`` (its peak while building: graph, mapping and its arrays), ``held`` (its arrays),
    ``graph``, ``mapping``, ``routes`` (its own neurons' routes as bound, and the whole flags),
    ``routing`` (the router and its routes' closed forms) and ``cores`` (its share of the
    cores used, at most). ``net``: the graph, when already read."""
    if net is None:
        from neuroemu.networks.presentation import load_file_network
        net = load_file_network(workload, workload.where)
    core = chip.core
    kernel = neuron_model(core.neuron_model).kernel
    per = array_bytes_per(chip)
    copies = core.axon_types if kernel == "truenorth" else 1  # TrueNorth: bits and neuron copies (docstring)
    edges = net.n_edges * copies * copies
    used = min(chip.cores, max(1, net.n_neurons * copies))
    share = -(-used // ranks)
    points = -(-edges // ranks)
    neurons = share * core.neurons
    routes = neurons + (points if kernel != "truenorth" else 0)
    held = (neurons * per["neuron"] + share * (core.axons * per["axon"] + per["core"])
            + points * (per["point"] + per["route"]))
    graph, mapping = graph_bytes(net), MAP_BYTES_PER_EDGE * edges
    return {"build": graph + mapping + held, "held": held, "graph": graph, "mapping": mapping,
            "routes": ROUTE_BYTES * routes + used * core.neurons, "routing": routing_bytes(chip, routes=routes),
            "by_block": 0, "by_part": 1, "cores": share}
