"""torchrun: two gloo processes render one file, byte-identical to one process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("torch.distributed")


def _render(model, out, extra_env, *launcher, args=()):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **extra_env}
    cmd = [sys.executable, *launcher, "-m", "generator", "render", "--model", str(model)]
    cmd += ["--equirect", "--width", "160", "--tile", "16", "--quiet", "--out", str(out), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.mark.parametrize("suffix", [".exr", ".png"])
def test_two_processes_write_the_same_bytes(tmp_path, tiny_model_path, suffix):
    bits = ["--bit-depth", "32"] if suffix == ".exr" else ["--bit-depth", "16"]
    single = _render(tiny_model_path, tmp_path / f"single{suffix}", {}, args=bits)
    assert single.returncode == 0, single.stderr
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    parallel = _render(tiny_model_path, tmp_path / f"parallel{suffix}", {}, *torchrun, args=bits)
    assert parallel.returncode == 0, parallel.stderr
    assert parallel.stdout.count("wrote") == 1  # rank 0 alone writes and reports
    single_bytes = (tmp_path / f"single{suffix}").read_bytes()
    assert (tmp_path / f"parallel{suffix}").read_bytes() == single_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"parallel{suffix}", f"single{suffix}"]


def test_a_bad_request_fails_on_every_rank_with_one_line(tmp_path, tiny_model_path):
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    env = {"OMP_NUM_THREADS": "1"}
    result = _render(tiny_model_path, tmp_path / "x.png", env, *torchrun, args=["--width", "0"])
    assert result.returncode != 0
    assert result.stderr.count("error: ") == 1
    assert list(tmp_path.iterdir()) == []
