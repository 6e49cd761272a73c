"""The engine: the window loop of each tick semantics, the energy ledger, the record, the SimPy reference.

May import networks, hardware, models, config and kernel; never studies or cli.
"""
