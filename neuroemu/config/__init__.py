"""Chip and workload descriptions: frozen specs and their YAML loading."""
from neuroemu.config.loader import (CHIPS_DIR, WORKLOADS_DIR, chip_from_data, load_chip, load_workload, read_yaml,
                     shipped_chips, workload_chip, workload_from_data)
from neuroemu.config.schema import (ChipSpec, CoreSpec, EnergySpec, InputSpec, LatencySpec, NetworkSpec, Sourced,
                     TimingSpec, TopologySpec, WorkloadSpec)

__all__ = [
    "CHIPS_DIR", "WORKLOADS_DIR", "ChipSpec", "CoreSpec", "EnergySpec", "InputSpec", "LatencySpec",
    "NetworkSpec", "Sourced", "TimingSpec", "TopologySpec", "WorkloadSpec", "chip_from_data",
    "load_chip", "load_workload", "read_yaml", "shipped_chips", "workload_chip", "workload_from_data",
]
