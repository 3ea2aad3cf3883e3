"""The benchmarks run as the design card names them (python bench/compare_torch.py) as well as
with -m, and a missing piece of the ONNX column is one line, not a crash."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script", ["compare_torch.py", "ops.py", "video.py", "peer.py"])
def test_bench_scripts_run_as_files(script, tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--help"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


def test_onnx_column_is_skipped_with_a_note_when_the_export_fails(monkeypatch, capsys, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from bench.compare_torch import onnx_engine

    def broken_export(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'onnxscript'")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    assert onnx_engine(torch.nn.Identity(), 32, str(tmp_path)) is None
    assert "ONNX Runtime column skipped" in capsys.readouterr().out


def test_video_benchmark_prints_and_saves_its_figures(tmp_path):
    record = tmp_path / "video.json"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "video.py"), "--sizes", "96x64", "--threads", "1",
                             "--frames", "6", "--json", str(record)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "frames/s" in result.stdout and "flicker" in result.stdout
    rows = __import__("json").loads(record.read_text())["rows"]
    assert rows[0]["frames"] == 6 and rows[0]["frames_per_s"] > 0 and (rows[0]["width"], rows[0]["height"]) == (96, 64)


def test_peer_benchmark_without_mediapipe_says_how_to_get_it(tmp_path):
    if importlib.util.find_spec("mediapipe") is not None:
        pytest.skip("mediapipe is installed here")
    result = subprocess.run([sys.executable, "-m", "bench.peer", "--limit", "1"], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "pip install mediapipe==0.10.14" in result.stderr, result.stderr
