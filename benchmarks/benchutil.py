"""Shared by the benchmarks: the machine description and the date for the JSON lines."""
from __future__ import annotations

import datetime
import os
import platform
import resource
from pathlib import Path

import numpy as np


def machine() -> dict:
    """uname -m, nproc, the CPU model, Python and numpy versions, and the load average."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"machine": platform.machine(), "nproc": os.cpu_count(), "cpu": model,
            "python": platform.python_version(), "numpy": np.__version__,
            "load_avg_1min": round(os.getloadavg()[0], 2)}


def today() -> str:
    """The UTC date, ISO format."""
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (MiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
