"""`predict.cores.usable_cores`: affinity and CPU quotas, read from cgroup trees laid out as the kernel does."""

import os

import pytest

from predict.cores import cpu_quota, usable_cores


def tree(tmp_path, files: dict[str, str], self_cgroup: str):
    for rel, text in files.items():
        (tmp_path / "fs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fs" / rel).write_text(text)
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "self").write_text(self_cgroup)
    return str(tmp_path / "fs"), str(tmp_path / "self")


@pytest.mark.parametrize("files, self_cgroup, quota", [
    ({"cpu.max": "50000 100000\n"}, "0::/\n", 0.5),  # cgroup v2 with its own namespace (docker --cpus 0.5)
    ({"cpu.max": "max 100000\n", "a/cpu.max": "150000 100000\n", "a/b/cpu.max": "max 100000\n"},
     "0::/a/b\n", 1.5),  # a parent's quota binds its children (systemd-run -p CPUQuota=150%)
    ({"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
      "cpu,cpuacct/docker/x/cpu.cfs_quota_us": "200000\n", "cpu,cpuacct/docker/x/cpu.cfs_period_us": "100000\n"},
     "4:cpu,cpuacct:/docker/x\n3:memory:/docker/x\n", 2.0),  # cgroup v1, the host's view of a container
    ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"},
     "2:cpu:/docker/abc\n", 1.0),  # cgroup v1 inside the container: its group is the mount's root
    ({"cpu.max": "max 100000\n", "cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
     "1:cpu:/\n0::/\n", None),  # no quota anywhere
    ({"cpu.max": "200000 0\n"}, "0::/\n", None),  # a value no kernel writes: ignored, not a crash
    ({}, "garbage\n", None),
])
def test_cpu_quota_is_the_tightest_of_the_group_and_its_parents(tmp_path, files, self_cgroup, quota):
    root, self_file = tree(tmp_path, files, self_cgroup)
    assert cpu_quota(root, self_file) == quota


def test_usable_cores_is_the_affinity_capped_by_the_quota(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    root, self_file = tree(tmp_path, {"cpu.max": "50000 100000\n"}, "0::/\n")
    assert usable_cores(root, self_file) == 1  # half a core still gets one
    root, self_file = tree(tmp_path / "none", {}, "")
    assert usable_cores(root, self_file) == affinity
    assert usable_cores() <= affinity  # this machine's own tree, whatever it is
