"""The cores this process may use: what `mihwar predict --workers` and training's `--jobs` default to and are capped at."""

from __future__ import annotations

import math
import os


def usable_cores() -> int:
    """Its CPU affinity (`taskset`), and a cgroup v2 CPU quota (`docker --cpus`) when lower; at least 1.

    ``os.cpu_count()`` counts the host's cores: in a container limited to 2 CPUs on a 64-core host it
    would start 64 labeling processes of about 270 MB each."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)
