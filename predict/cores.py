"""The cores this process may use: what `mihwar predict --workers` and training's `--jobs` default to and are capped at."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = "/sys/fs/cgroup"
SELF_CGROUP = "/proc/self/cgroup"


def usable_cores(cgroup_root: str = CGROUP_ROOT, self_cgroup: str = SELF_CGROUP) -> int:
    """Its CPU affinity (`taskset`), and a cgroup CPU quota (`docker --cpus`, systemd's CPUQuota) when lower; at least 1.

    ``os.cpu_count()`` counts the host's cores: in a container limited to 2 CPUs on a 64-core host it
    would start 64 labeling processes of about 270 MB each."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    quota = cpu_quota(cgroup_root, self_cgroup)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def cpu_quota(cgroup_root: str = CGROUP_ROOT, self_cgroup: str = SELF_CGROUP) -> float | None:
    """The tightest CPU quota, in cores, of this process's cgroup and its ancestors (cgroup v2 ``cpu.max`` or v1
    ``cpu.cfs_quota_us``); None when there is none or it cannot be read."""
    limits = []
    for folder, v2 in _cgroup_folders(Path(cgroup_root), self_cgroup):
        try:
            if v2:
                quota, period = (folder / "cpu.max").read_text().split()[:2]
                if quota != "max":
                    limits.append(int(quota) / int(period))
            else:
                quota_us = int((folder / "cpu.cfs_quota_us").read_text())
                if quota_us > 0:
                    limits.append(quota_us / int((folder / "cpu.cfs_period_us").read_text()))
        except (OSError, ValueError, ZeroDivisionError):
            continue  # no such file here, or a value no kernel writes
    limits = [x for x in limits if x > 0]
    return min(limits) if limits else None


def _cgroup_folders(root: Path, self_cgroup: str) -> list[tuple[Path, bool]]:
    """Where this process's CPU limits may be, as (folder, is cgroup v2): its own group's folder and each parent's,
    in the unified (v2) tree and in a v1 ``cpu`` hierarchy; the mount's root (a container's own group) always."""
    try:
        lines = Path(self_cgroup).read_text().splitlines()
    except OSError:
        lines = []
    folders = [(root, True), (root / "cpu", False), (root / "cpu,cpuacct", False)]
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:
            bases = [(root, True), (root / "unified", True)]
        elif "cpu" in controllers.split(","):
            bases = [(root / controllers, False), (root / "cpu", False)]
        else:
            continue
        steps = Path(path.lstrip("/")).parts
        for base, v2 in bases:
            folders += [(base.joinpath(*steps[:i]), v2) for i in range(len(steps), 0, -1)]
    return folders
