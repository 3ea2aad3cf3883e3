"""The live window of --camera, under a virtual display (Xvfb) with a video file standing in for the
camera: the headless OpenCV the package installs cannot open a window, so the Tk window must."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from matting.infer import main

EXAMPLE = Path(__file__).resolve().parent.parent / "matting" / "examples" / "astronaut.jpg"


@pytest.fixture
def virtual_display(monkeypatch):
    if not shutil.which("Xvfb"):
        if os.environ.get("CI"):
            pytest.fail("Xvfb is missing; .ci/run installs it (apt-get install xvfb)")
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    number = 90 + os.getpid() % 500
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{number}").exists():
            break
        time.sleep(0.05)
    monkeypatch.setenv("DISPLAY", f":{number}")
    yield f":{number}"
    server.terminate()
    server.wait()


def test_camera_window_opens_and_shows_frames(tmp_path, virtual_display, capsys):
    pytest.importorskip("tkinter")
    clip = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    portrait = cv2.resize(cv2.imread(str(EXAMPLE)), (120, 120))
    for i in range(8):
        frame = np.full((120, 160, 3), 50, np.uint8)
        frame[:, i * 4:i * 4 + 120] = portrait
        writer.write(frame)
    writer.release()
    report = tmp_path / "r.json"
    assert main(["--camera", str(clip), "--frames", "5", "-t", "composite", "--json", str(report)]) == 0
    video = __import__("json").loads(report.read_text())["video"]
    assert video["frames"] == 5 and video["window"] in ("tk", "opencv")


def test_no_display_is_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tkinter")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    clip = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    assert main(["--camera", str(clip), "--frames", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no window: cannot reach a display") and "--no-display" in err and "\n" not in err
