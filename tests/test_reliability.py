"""What a user gets when things go wrong around the network: damaged video frames, an unwritable or
full disk, a missing package, huge videos, and file modes. Each: one line, a clear exit status, no
partial output, the input untouched."""
import errno
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from matting.infer import main
from matting.io import new_file_mode

EXAMPLE = Path(__file__).resolve().parent.parent / "matting" / "examples" / "astronaut.jpg"


def run_cli(*args):
    return main([str(a) for a in args])


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def mjpeg_video(path, frames, damaged=(), size=(64, 48)):
    """An MJPEG .avi of a moving disc; the frames in `damaged` get their JPEG data zeroed."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, size)
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), 60, np.uint8)
        cv2.circle(frame, (i % size[0], size[1] // 2), 8, (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]
    assert len(starts) == frames
    for k in damaged:
        data[starts[k]:starts[k] + 200] = bytes(200)
    path.write_bytes(bytes(data))


def frame_count(path):
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    return count


def test_damaged_frames_in_the_middle_are_reported_and_the_good_ones_written(tmp_path):
    video = tmp_path / "clip.avi"
    mjpeg_video(video, 40, damaged=(15, 16, 17))
    before = digest(video)
    result = subprocess.run([sys.executable, "-m", "matting.infer", str(video), "-t", "alpha", "-o", str(tmp_path / "out.avi")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summary = [line for line in result.stderr.splitlines() if "damaged frame" in line]
    assert len(summary) == 1 and "3 damaged frame(s)" in summary[0] and "frame 16, 17, 18" in summary[0]
    assert "No JPEG data" not in result.stderr  # FFmpeg's own log lines stay quiet
    assert frame_count(tmp_path / "out.avi") == 40  # 37 good frames + 3 repeats keep the timing
    assert digest(video) == before


def test_video_output_mode_follows_the_umask_like_images(tmp_path):
    video = tmp_path / "clip.avi"
    mjpeg_video(video, 3)
    assert run_cli(video, "-t", "alpha", "-o", tmp_path / "v.avi") == 0
    assert run_cli(EXAMPLE, "-t", "alpha", "-o", tmp_path / "i.png", "--size", 64) == 0
    assert (tmp_path / "v.avi").stat().st_mode & 0o777 == new_file_mode() == (tmp_path / "i.png").stat().st_mode & 0o777


def test_video_to_a_folder_that_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch):
    video = tmp_path / "clip.avi"
    mjpeg_video(video, 3)

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refused)  # root ignores chmod; refuse the way a read-only folder does
    assert run_cli(video, "-t", "alpha", "-o", tmp_path / "ro") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "cannot write here (Permission denied)" in err[-1] and "unexpected" not in err[-1]


def test_disk_full_while_writing_an_image_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    source = tmp_path / "in.jpg"
    source.write_bytes(EXAMPLE.read_bytes())
    before = digest(source)
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])  # part of the file reaches the disk, then it is full
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("matting.io.os.fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    assert run_cli(source, "-t", "alpha", "--size", 64) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "free some space" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jpg"]  # no output, no temporary file
    assert digest(source) == before


@pytest.mark.parametrize("backend", ["opencv", "pyav"])
def test_disk_full_while_writing_a_video_leaves_nothing_behind(tmp_path, capsys, monkeypatch, backend):
    import matting.video as video_module

    video = tmp_path / "clip.avi"
    mjpeg_video(video, 3)
    if backend == "opencv":
        class SilentWriter:  # cv2.VideoWriter does not raise on a full disk: it writes nothing
            def __init__(self, *args):
                pass

            def isOpened(self):
                return True

            def write(self, frame):
                pass

            def release(self):
                pass

        monkeypatch.setattr(video_module, "have_pyav", lambda: False)
        monkeypatch.setattr(cv2, "VideoWriter", SilentWriter)
        expected = "wrote nothing"
    else:
        pytest.importorskip("av")

        class FullDisk:  # the muxer's write fails the way a full disk makes it fail
            def __init__(self, container):
                self.container = container

            def mux(self, packets):
                raise OSError(errno.ENOSPC, "No space left on device")

            def close(self):
                self.container.close()

        original = video_module.PyAVWriter.__init__

        def init(self, *args, **kwargs):
            original(self, *args, **kwargs)
            self.container = FullDisk(self.container)

        monkeypatch.setattr(video_module.PyAVWriter, "__init__", init)
        expected = "No space left on device"
    assert run_cli(video, "-t", "alpha", "-o", tmp_path / "out.mp4") == 1
    err = capsys.readouterr().err
    assert expected in err and "unexpected" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi"]


def test_frames_larger_than_the_limit_are_refused_before_reading(tmp_path, capsys):
    video = tmp_path / "clip.avi"
    mjpeg_video(video, 2, size=(320, 240))
    assert run_cli(video, "-t", "alpha", "--max-pixels", 50000) == 1
    assert "frames of 320x240 are larger than the 0 MP limit" in capsys.readouterr().err


def test_missing_opencv_is_one_line_that_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now fails the way it does when not installed
    assert run_cli(EXAMPLE, "-o", tmp_path) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("error: the Python package opencv-python-headless is missing (import cv2 failed); "
                   "install it: pip install opencv-python-headless")


def test_training_without_data_is_a_usage_error_and_leaves_no_run_folder(tmp_path):
    pytest.importorskip("torch")
    for module, args in [("convert.train", ["--data", tmp_path / "nowhere"]),
                         ("convert.train_encoder_decoder", ["--data-root", tmp_path / "nowhere"])]:
        out = tmp_path / f"run-{module}"
        result = subprocess.run([sys.executable, "-m", module, "--out", str(out), *map(str, args)],
                                capture_output=True, text=True)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and "nowhere" in result.stderr.strip().splitlines()[-1]
        assert not out.exists()


def resident_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads resident memory from /proc")
def test_soak_3000_frames_with_flat_memory(tmp_path):
    import threading

    video = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    frame = np.full((120, 160, 3), 90, np.uint8)
    for i in range(3000):
        moving = frame.copy()
        cv2.circle(moving, (40 + (i % 80), 60), 20, (230, 200, 180), -1)
        writer.write(moving)
    writer.release()
    child = subprocess.Popen([sys.executable, "-m", "matting.infer", str(video), "-t", "composite", "--smooth", "0.3",
                              "-o", str(tmp_path / "out.avi"), "--threads", "1"], stderr=subprocess.PIPE)
    progress = {"frame": 0, "text": []}

    def follow():  # progress lines end in \r: "long.avi: frame 120/3000, ..."
        buffer = b""
        for chunk in iter(lambda: child.stderr.read(64), b""):
            buffer += chunk
            *lines, buffer = buffer.replace(b"\r", b"\n").split(b"\n")
            for line in lines:
                progress["text"].append(line.decode(errors="replace"))
                if b": frame " in line:
                    progress["frame"] = int(line.split(b": frame ")[1].split(b"/")[0])

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    samples = []
    while child.poll() is None:
        rss = resident_mb(child.pid) if child.poll() is None else None
        if rss is not None and progress["frame"] >= 100:
            samples.append((progress["frame"], rss))
        __import__("time").sleep(0.05)
    reader.join(timeout=10)
    assert child.returncode == 0, "\n".join(progress["text"][-5:])
    assert samples and samples[-1][0] >= 2900, f"too few samples: {samples[-3:]}"
    growth = max(rss for _, rss in samples) - samples[0][1]
    print(f"soak: {len(samples)} samples, frames {samples[0][0]}..{samples[-1][0]}, {samples[0][1]:.1f} -> max {max(r for _, r in samples):.1f} MB")
    assert growth < 20, f"resident memory grew {growth:.1f} MB from frame {samples[0][0]} to the end"
    assert frame_count(tmp_path / "out.avi") == 3000


@pytest.mark.parametrize("proc_readable", [True, False])
def test_new_file_mode_follows_a_umask_set_after_import(monkeypatch, proc_readable):
    import builtins

    import matting.io

    if not proc_readable:  # macOS, Termux with a restricted /proc: the umask is read by setting it
        real_open = builtins.open

        def open_without_proc(name, *args, **kwargs):
            if str(name).startswith("/proc"):
                raise OSError("no /proc here")
            return real_open(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", open_without_proc)
    before = os.umask(0o077)
    try:
        assert matting.io.new_file_mode() == 0o600
        os.umask(0o002)
        assert matting.io.new_file_mode() == 0o664
        assert os.umask(0o002) == 0o002  # reading it left it as it was
    finally:
        os.umask(before)
