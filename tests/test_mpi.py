"""neuroemu.engine.mpi: partition, Alltoallv spike exchange and reduction under ``mpiexec -n 2``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroemu.engine.mpi import pack_by_rank, partition_cores
from neuroemu.errors import ConfigError

PROGRAM = Path(__file__).with_name("mpi_program.py")
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def test_partition_by_chips_and_by_core_blocks():
    chips = np.repeat(np.arange(4), 3)  # 4 chips of 3 cores
    assert partition_cores(12, 2, chips).tolist() == [0] * 6 + [1] * 6
    assert partition_cores(12, 4, chips).tolist() == np.repeat(np.arange(4), 3).tolist()
    # more ranks than chips: core blocks, sizes within one
    by_core = partition_cores(12, 5, chips)
    assert by_core.tolist() == sorted(by_core.tolist()) and set(np.bincount(by_core)) <= {2, 3}
    with pytest.raises(ConfigError, match="ranks: 13 ranks for 12 cores"):
        partition_cores(12, 13)
    with pytest.raises(ConfigError, match="ranks: must be an integer >= 1"):
        partition_cores(12, 0)


def test_pack_by_rank_groups_rows_stably():
    counts, packed = pack_by_rank(np.array([1, 0, 1, 0]), np.array([[10], [11], [12], [13]]), 3)
    assert counts.tolist() == [2, 2, 0] and packed.ravel().tolist() == [11, 13, 10, 12]


def _mpiexec(*args, timeout=120):
    if MPIEXEC is None:
        pytest.fail("mpiexec not found: install the extra with pip install 'neuroemu[mpi]' (make does)")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(PROGRAM), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_two_ranks_exchange_every_spike_to_its_target_cores_owner(write_yaml, small_chip, small_workload):
    pytest.importorskip("mpi4py", reason="the mpi extra is not installed: pip install 'neuroemu[mpi]'")
    write_yaml("tiny.yaml", small_chip)
    system = write_yaml("sys.yaml", {"name": "sys", "system": {
        "chip": "tiny.yaml", "grid": [2, 2],
        "link": {"hop_pj": 40.0, "hop_ns": 25.0, "bandwidth_pkts_per_ns": 0.5}}})
    small_workload["ticks"] = 30
    workload = write_yaml("wl.yaml", small_workload)
    out = _mpiexec("exchange", system, workload)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["ranks"] == 2 and res["owner"] == [0] * 8 + [1] * 8  # chips 0, 1 on rank 0; 2, 3 on rank 1
    assert res["reduced"] == res["direct"]
    assert res["direct"]["crossed_ranks"] > 0


def test_an_error_on_one_rank_ends_every_rank_with_one_line():
    pytest.importorskip("mpi4py", reason="the mpi extra is not installed: pip install 'neuroemu[mpi]'")
    out = _mpiexec("fail", timeout=60)  # a hang would time out here
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error (rank")]
    assert errors == ["Error (rank 1): boom on purpose"]
