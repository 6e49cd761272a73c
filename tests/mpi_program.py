"""The rank side of tests/test_mpi.py and tests/test_ranks.py, run as
``mpiexec -n N python tests/mpi_program.py MODE ...``.

``run CHIP WORKLOAD TIMING [MAPPING]``: the run split over the ranks
(:func:`neuroemu.engine.ranks.simulate_ranks`; a network file as WORKLOAD is placed by MAPPING);
rank 0 checks conservation on the reduced record and prints it as one JSON line.
``fault CHIP WORKLOAD raise|die``: rank 1 raises, or exits, at tick 5 of a split run.

``exchange CHIP WORKLOAD``: every rank reads the spike trains of a one-process run (the engine
does not run split yet, see neuroemu/engine/mpi.py), keeps the spikes its own cores fired, sends
each to the rank holding its target core with :func:`exchange`, counts what arrives per core and
tick, and rank 0 prints (as one JSON line) the counters reduced over ranks beside the same counts
taken directly from the record. ``fail``: rank 1 raises while rank 0 waits in a collective.
"""
import json
import sys

import numpy as np

from neuroemu.config.loader import load_chip, load_workload
from neuroemu.engine.mpi import abort_on_error, exchange, partition_cores, reduce_counts, world
from neuroemu.engine.run import simulate
from neuroemu.hardware.chip import build_chip_topology
from neuroemu.hardware.system import chip_of_core
from neuroemu.networks.workloads import build_network


def main(argv):
    comm = world()
    rank, size = comm.Get_rank(), comm.Get_size()
    with abort_on_error(comm):
        if argv[0] == "fail":
            if rank == 1:
                raise ValueError("boom on purpose")
            comm.Barrier()  # rank 0 would wait here for ever without the abort
            return
        if argv[0] == "run":
            return run_split(argv[1:])
        if argv[0] == "fault":
            return run_faulty(argv[1:])
        chip, wl = load_chip(argv[1]), load_workload(argv[2])
        record = simulate(chip, wl, record_spikes=True)
        arrays = build_network(chip, wl, wl.seed, "w").arrays
        src, axon, _ = arrays.routes()
        N, A = arrays.neurons_per_core, arrays.axons_per_core
        owner = partition_cores(chip.cores, size, chip_of_core(build_chip_topology(chip)))
        ticks, neurons = record.spike_trains.ticks, record.spike_trains.neurons
        # a route per neuron on generated arrays: neuron j's spike goes to axon axon[j]
        sends = axon[neurons] >= 0
        t, j = ticks[sends], neurons[sends]
        src_core = arrays.chip_cores(j // N)
        dst_core = arrays.chip_cores(axon[j] // A)
        mine = owner[src_core] == rank
        rows = np.stack([t[mine], dst_core[mine], src_core[mine]], axis=1)
        got = exchange(comm, owner[dst_core[mine]], rows)
        assert (owner[got[:, 1]] == rank).all()
        local = {f"arrived:core{c}": int(n) for c, n in enumerate(np.bincount(got[:, 1], minlength=chip.cores))}
        local["crossed_ranks"] = int((owner[got[:, 2]] != rank).sum())
        local["tick_sum"] = int(got[:, 0].sum())
        total = reduce_counts(comm, local)
        if rank == 0:
            direct = {f"arrived:core{c}": int(n) for c, n in enumerate(np.bincount(dst_core, minlength=chip.cores))}
            direct["crossed_ranks"] = int((owner[src_core] != owner[dst_core]).sum())
            direct["tick_sum"] = int(t.sum())
            print(json.dumps({"ranks": size, "reduced": total, "direct": direct, "owner": owner.tolist()}))


def load_pair(chip: str, workload: str, mapping: str | None):
    """The chip and workload as the tests give them (a network file: 40 ticks, placed by ``mapping``, one
    axon per source so that the tiny cores hold it)."""
    from neuroemu.config.loader import is_network_file, workload_for_network_file
    if is_network_file(workload):
        return load_chip(chip), workload_for_network_file(workload, mapping=mapping, axon_copies=1, ticks=40)
    return load_chip(chip), load_workload(workload)


def run_split(args):
    """Rank 0 prints the split run's record (conservation checked on it) as one JSON line."""
    from conservation import assert_conserved
    from neuroemu.engine.ranks import simulate_ranks
    chip, wl = load_pair(args[0], args[1], args[3] if len(args) > 3 else None)
    record = simulate_ranks(chip, wl, record_spikes=True, timing=args[2])
    if record is not None:
        assert_conserved(record)
        print(record.to_json(indent=None))


def run_faulty(args):
    """Rank 1 fails at tick 5 of a split run (``raise``: an exception; ``die``: the process exits at once)."""
    from neuroemu.engine.ranks import RankLoop
    import os

    class Faulty(RankLoop):
        comm = world()

        def step_cores(self, t, due_axons):
            if self.rank == 1 and t == 5:
                if args[2] == "die":
                    os._exit(3)
                raise RuntimeError("fault injected at tick 5")
            return super().step_cores(t, due_axons)

    chip, wl = load_pair(args[0], args[1], None)
    simulate(chip, wl, loop=Faulty, ticks=40)


if __name__ == "__main__":
    main(sys.argv[1:])
