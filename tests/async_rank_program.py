"""The rank side of tests/test_asyncranks.py's fault tests, run as
``mpiexec -n 2 python tests/async_rank_program.py CHIP WORKLOAD raise|setup``.

``raise``: rank 1 raises in its first window at or after 5 ms of a split async run (mid-run: the
other rank waits in a collective). ``setup``: rank 1 alone fails while it builds. Rank 0 prints
a setup error as the CLI does (``Error: ...``); every rank exits 1.
"""
import sys

from neuroemu.engine.asyncranks import AsyncRankLoop
from neuroemu.engine.mpi import world
from neuroemu.engine.run import simulate


def main(chip: str, workload: str, how: str) -> None:
    comm = world()

    class Faulty(AsyncRankLoop):
        def _split(self):
            if how == "setup" and self.rank == 1:
                raise RuntimeError("setup fault on rank 1")
            super()._split()

        def _window(self, w0, w1, start):
            if how == "raise" and self.rank == 1 and w0 >= 5 * self.T:
                raise RuntimeError("fault injected at 5 ms")
            super()._window(w0, w1, start)

    Faulty.comm = comm
    try:
        simulate(chip, workload, loop=type("Loop", (), {"async_loop": Faulty}), timing="async", ticks=40)
    except Exception as exc:  # noqa: BLE001 - a setup error: every rank has it, rank 0 says it
        if comm.Get_rank() == 0:
            print(f"Error: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main(*sys.argv[1:])
