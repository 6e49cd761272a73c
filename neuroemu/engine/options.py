"""What a run is asked for beyond its chip and workload, shared by every engine."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from neuroemu.config.loader import load_chip, load_workload, workload_chip
from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.errors import ConfigError

#: seed stream of the neuron model's counter-based random numbers
STREAM_NEURON_RNG = 7

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RunOptions:
    """Options of one run that are not part of the chip or the workload."""

    ticks: int
    seed: int
    queue: str | None = None
    record_spikes: bool = False
    tick_backend: str | None = None
    max_events: int | None = None  # stop (RunawayError, partial record) past this many delivered spikes
    max_window_events: int | None = None  # ... or past this many in one window (an event storm)
    link_stats: bool = False       # keep per-link packets and utilisation (and the layout) in the record
    network: str = "analytic"      # "analytic" (routes from tables) or "packet" (hop by hop, congestion)
    buffer_packets: int = 4        # packet fidelity: input buffer per link
    threads: int = 1               # threads the fused TrueNorth tick kernel splits the cores over (same record)


#: the picosecond clock is int64; runs must end well before it wraps
MAX_TIME_PS = 1 << 62


def resolve(chip: ChipSpec | str | Path | None, workload: WorkloadSpec | str | Path | None
            ) -> tuple[ChipSpec, WorkloadSpec]:
    """Specs from specs, files, shipped names or None (the workload's own chip, or the defaults)."""
    if not isinstance(workload, WorkloadSpec):
        workload_file = None if workload is None else str(workload)
        workload = load_workload(workload)
        if chip is None:
            return workload_chip(workload, workload_file), workload
    if not isinstance(chip, ChipSpec):
        chip = load_chip(chip)
    return chip, workload


def with_timing(chip: ChipSpec, mode: str) -> ChipSpec:
    """The chip with another tick semantics; an unknown one lists the valid ones."""
    valid = ("sync", "gals", "barrier", "async")
    if mode not in valid:
        raise ConfigError(f"--timing: unknown tick semantics {mode!r}; valid: {', '.join(valid)}")
    return dataclasses.replace(chip, timing=dataclasses.replace(chip.timing, mode=mode))
