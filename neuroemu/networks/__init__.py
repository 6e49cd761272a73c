"""Chip-independent networks and their compilation onto a chip.

The graph of groups and projections, the NIR and edge-list readers, quantisation, placement onto
cores, compilation into core arrays, the generated workloads, presentation and readout. May import
hardware, models, config and kernel; never engine, studies or cli.
"""
