"""Studies over many runs: sweeps and their results tables, compare, traffic, reproduce, plots.

May import engine and everything below it; never cli.
"""
