"""A stand-in for an MPI communicator, for tests of a split run's setup checks."""


class OneRankOfTwo:
    """Rank 0 of a two-rank communicator: enough for the setup checks, which run before any collective."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 2

    def allgather(self, value):
        return [value, None]
