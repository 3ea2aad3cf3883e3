"""A CPU's first run (matting/warmup.py): the NumPy paths while the kernels compile in another
process, the switch to the kernels once they are ready, and the graph's plans per switch."""
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import nnlite
from matting.infer import main
from matting import resolve_weights
from matting.networks import open_network
from matting.warmup import Warmup, marker_path

EXAMPLE = Path(__file__).resolve().parent.parent / "matting" / "examples" / "grace_hopper.jpg"
needs_numba = pytest.mark.skipif(not nnlite.USE_NUMBA, reason="without Numba there is nothing to compile")


@pytest.fixture
def cold_cache(tmp_path, monkeypatch):
    """A first run as far as matting.warmup can tell: an empty fdm cache, the background mode on;
    the kernels back on afterwards whatever the test did."""
    monkeypatch.setenv("FDM_CACHE_DIR", str(tmp_path / "fdm-cache"))
    monkeypatch.setenv("FDM_KERNELS", "background")
    yield tmp_path / "fdm-cache"
    nnlite.use_kernels(True)


def test_use_kernels_switches_the_graph_between_kernels_and_numpy(rng):
    network = open_network(resolve_weights("fdm-people-256"))
    image = rng.random((1, 3, 96, 128), dtype=np.float32)
    with_kernels = network.forward(image)["alpha"].copy()
    try:
        nnlite.use_kernels(False)
        assert not nnlite.kernels_on()
        numpy_paths = network.forward(image)["alpha"].copy()
    finally:
        nnlite.use_kernels(True)
    assert nnlite.kernels_on() == nnlite.USE_NUMBA
    np.testing.assert_allclose(numpy_paths, with_kernels, atol=1e-4)
    assert len(network.graph._plans) == (2 if nnlite.USE_NUMBA else 1)  # one plan per switch position


@needs_numba
@pytest.mark.slow
def test_first_run_uses_numpy_paths_and_compiles_in_the_background(cold_cache, tmp_path, capsys):
    assert main([str(EXAMPLE), "-t", "alpha", "-o", str(tmp_path / "first.png"), "--weights", "fdm-people-256"]) == 0
    said = capsys.readouterr().err
    assert "compile in the background" in said
    assert not nnlite.kernels_on()  # the rest of this run would stay on the NumPy paths
    nnlite.use_kernels(True)
    marker = marker_path()
    deadline = time.time() + 600
    while not marker.exists() and time.time() < deadline:
        assert marker.with_suffix(".lock").exists() or marker.exists(), marker.with_suffix(".log").read_text()
        time.sleep(0.5)
    assert marker.exists(), marker.with_suffix(".log").read_text()
    assert not marker.with_suffix(".lock").exists()
    # the next run finds the marker: kernels from the start, no background compile, the same matte
    assert main([str(EXAMPLE), "-t", "alpha", "-o", str(tmp_path / "next.png"), "--weights", "fdm-people-256"]) == 0
    assert "background" not in capsys.readouterr().err
    first, following = (cv2.imread(str(tmp_path / name), cv2.IMREAD_GRAYSCALE).astype(int) for name in ("first.png", "next.png"))
    assert np.abs(first - following).max() <= 1  # NumPy paths and kernels agree to within one 8-bit level


@needs_numba
def test_a_video_switches_to_the_kernels_when_they_are_ready(cold_cache, tmp_path, capsys, monkeypatch):
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(12):
        frame = np.full((48, 64, 3), 60, np.uint8)
        cv2.circle(frame, (10 + 4 * i, 24), 8, (200, 180, 160), -1)
        writer.write(frame)
    writer.release()
    checks = {"count": 0}

    def ready(self):  # the background compile finishes after the fourth frame
        checks["count"] += 1
        return checks["count"] > 4

    monkeypatch.setattr(Warmup, "ready", ready)
    monkeypatch.setattr(Warmup, "start", lambda self, weights, size=None: True)  # no real process here
    assert main([str(clip), "-t", "alpha", "-o", str(tmp_path / "out.mp4"), "--json", str(tmp_path / "r.json")]) == 0
    said = capsys.readouterr().err
    assert "compile in the background" in said and "kernels are ready" in said
    assert nnlite.kernels_on()
    assert cv2.VideoCapture(str(tmp_path / "out.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == 12


def test_compile_now_and_fdm_kernels_now_keep_the_kernels(cold_cache, tmp_path, capsys, monkeypatch):
    started = []
    monkeypatch.setattr(Warmup, "start", lambda self, weights, size=None: started.append(weights) or True)
    assert main([str(EXAMPLE), "-t", "alpha", "-o", str(tmp_path / "a.png"), "--compile-now"]) == 0
    monkeypatch.setenv("FDM_KERNELS", "now")
    assert main([str(EXAMPLE), "-t", "alpha", "-o", str(tmp_path / "b.png")]) == 0
    assert started == [] and nnlite.kernels_on() == nnlite.USE_NUMBA
    assert "background" not in capsys.readouterr().err


def test_warmup_command_writes_its_marker(tmp_path):
    marker = tmp_path / "kernels-test.ready"
    result = subprocess.run([sys.executable, "-m", "matting.warmup", "--weights", "fdm-128", "--marker", str(marker)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert marker.exists() and "kernels ready" in result.stdout
    assert not marker.with_suffix(".lock").exists()
