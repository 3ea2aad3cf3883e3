"""Video files as people use them (PyAV backend): H.264 that browsers play, the sound kept, each
frame's own timestamp kept, transparent ProRes 4444 whose alpha is the matte; and the OpenCV
fallback when PyAV is missing."""
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from matting.infer import main

av = pytest.importorskip("av")
EXAMPLE = Path(__file__).resolve().parent.parent / "matting" / "examples" / "astronaut.jpg"


def run_cli(*args):
    return main([str(a) for a in args])


def make_clip(path, frames=20, size=(160, 120), pts_ms=None, audio=True):
    """An H.264 clip of the example portrait sliding sideways, with a 440 Hz AAC track; pts_ms gives
    each frame's timestamp in milliseconds (a variable frame rate), else 25 frames/s."""
    portrait = cv2.resize(cv2.imread(str(EXAMPLE)), (size[1], size[1]))
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.time_base = video.codec_context.time_base = Fraction(1, 1000)
        sound = out.add_stream("aac", rate=44100) if audio else None
        for i in range(frames):
            canvas = np.full((size[1], size[0], 3), 40, np.uint8)
            x = (i * 2) % (size[0] - size[1] + 1)
            canvas[:, x:x + size[1]] = portrait
            frame = av.VideoFrame.from_ndarray(canvas, format="bgr24")
            frame.pts, frame.time_base = (pts_ms[i] if pts_ms else i * 40), Fraction(1, 1000)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            seconds = frames * 0.04
            t = np.arange(int(44100 * seconds)) / 44100
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            chunk = 1024
            for start in range(0, samples.shape[1], chunk):
                piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + chunk]), format="fltp", layout="mono")
                piece.sample_rate, piece.pts = 44100, start
                out.mux(sound.encode(piece))
            out.mux(sound.encode(None))


def decoded_frames(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [(frame.pts * frame.time_base, frame) for frame in container.decode(stream)]
        return stream, frames


def test_h264_output_plays_everywhere_with_the_sound(tmp_path):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=20)
    assert run_cli(clip, "-t", "composite", "-o", tmp_path / "out.mp4") == 0
    with av.open(str(tmp_path / "out.mp4")) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264" and video.codec_context.pix_fmt == "yuv420p"
        assert (video.codec_context.width, video.codec_context.height) == (160, 120)
        assert container.streams.audio and container.streams.audio[0].codec_context.name == "aac"
        frames = list(container.decode(video))
        assert len(frames) == 20
    with av.open(str(tmp_path / "out.mp4")) as container:  # each decode() reads the file to its end
        audio_seconds = sum(f.samples for f in container.decode(container.streams.audio[0])) / 44100
        duration = container.duration / 1e6
    assert abs(audio_seconds - 0.8) < 0.1 and abs(duration - 0.8) < 0.1
    capture = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    ok, picture = capture.read()
    assert ok and picture.shape == (120, 160, 3)


def test_variable_frame_rate_timestamps_are_kept(tmp_path):
    pts_ms = [0, 40, 80, 200, 240, 400, 440, 480, 520, 700]
    clip = tmp_path / "vfr.mp4"
    make_clip(clip, frames=len(pts_ms), pts_ms=pts_ms, audio=False)
    assert run_cli(clip, "-t", "alpha", "-o", tmp_path / "out.mp4") == 0
    _, frames = decoded_frames(tmp_path / "out.mp4")
    got = [round(float(t) * 1000) for t, _ in frames]
    assert got == pts_ms


def test_prores_4444_alpha_is_the_matte(tmp_path):
    from matting.api import Matter

    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=4, audio=False)
    assert run_cli(clip, "-t", "rgba", "-o", tmp_path / "cut.mov", "--threads", 1) == 0
    _, source = decoded_frames(clip)
    stream, frames = decoded_frames(tmp_path / "cut.mov")
    assert stream.codec_context.name == "prores" and "yuva444" in stream.codec_context.pix_fmt and len(frames) == 4
    matter = Matter(threads=1)
    for (_, original), (_, written) in zip(source, frames):
        want = np.round(matter.predict(original.to_ndarray(format="bgr24")) * 255)
        got = written.to_ndarray(format="bgra")[..., 3].astype(np.float64)
        assert np.abs(got - want).max() <= 2, f"alpha differs by {np.abs(got - want).max()}"


def test_h264_pictures_are_the_mattes_and_composites(tmp_path):
    """The writer converts frames to yuv420p itself (nnlite.ops.yuv420): decoded again, the alpha
    video is the matte and the composite is the photo over the background colour, with red still
    red (a swapped channel would turn it blue), within H.264's loss."""
    from matting.api import Matter

    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=3, audio=False)
    assert run_cli(clip, "-t", "alpha,composite", "--background", "#ff0000", "-o", tmp_path, "--threads", 1) == 0
    _, source = decoded_frames(clip)
    _, mattes = decoded_frames(tmp_path / "clip.alpha.mp4")
    _, composites = decoded_frames(tmp_path / "clip.composite.mp4")
    matter = Matter(threads=1)
    for (_, original), (_, matte), (_, composite) in zip(source, mattes, composites):
        image = original.to_ndarray(format="bgr24")
        alpha = matter.predict(image)
        got = matte.to_ndarray(format="gray").astype(np.float64)
        assert np.abs(got - alpha * 255).mean() < 3
        want = Matter.composite(image, alpha, "#ff0000").astype(np.float64)
        picture = composite.to_ndarray(format="bgr24").astype(np.float64)
        assert np.abs(picture - want).mean() < 4
        background = alpha < 0.02
        assert background.mean() > 0.2
        b, g, r = (picture[..., k][background].mean() for k in range(3))
        assert r > 220 and b < 35 and g < 35, (b, g, r)


def test_transparent_video_needs_a_container_that_holds_alpha(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=2, audio=False)
    assert run_cli(clip, "-t", "rgba", "-o", tmp_path / "cut.mp4") == 1
    assert "write .webm (VP9 with alpha) or .mov (ProRes 4444)" in capsys.readouterr().err
    assert not (tmp_path / "cut.mp4").exists()


def test_opencv_fallback_without_pyav(tmp_path, capsys, monkeypatch):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=6)
    monkeypatch.setitem(sys.modules, "av", None)  # import av now fails, as when PyAV is not installed
    assert run_cli(clip, "-t", "alpha", "-o", tmp_path / "out.mp4") == 0
    err = capsys.readouterr().err
    assert "the sound was not copied (the OpenCV fallback writes no sound: pip install av)" in err
    assert int(cv2.VideoCapture(str(tmp_path / "out.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 6


@pytest.mark.parametrize("angle", [90, -90, 180])
def test_a_phones_rotation_is_applied_to_the_pixels(tmp_path, angle):
    """The display matrix a phone writes says how to turn the stored picture upright; the reader
    applies it (as OpenCV's own reader does), so the matte and the output are upright too."""
    from matting.video import Frame, PyAVReader

    clip = tmp_path / "phone.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.set_display_rotation(angle)
        for i in range(3):
            picture = np.zeros((120, 160, 3), np.uint8)
            picture[:30, :40] = (0, 0, 255)  # a red block marks the stored picture's top-left corner
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    reader = PyAVReader(clip, "phone")
    ours = next(item for item in reader if isinstance(item, Frame)).image
    reader.close()
    ok, opencv = cv2.VideoCapture(str(clip)).read()
    assert ok and ours.shape == opencv.shape == ((120, 160, 3) if angle == 180 else (160, 120, 3))
    assert np.abs(ours.astype(int) - opencv.astype(int)).mean() < 10
    assert run_cli(clip, "-t", "alpha", "-o", tmp_path / "out.mp4") == 0
    _, frames = decoded_frames(tmp_path / "out.mp4")
    assert (frames[0][1].height, frames[0][1].width) == ours.shape[:2]


def test_videos_leave_cores_to_ffmpeg_unless_told(tmp_path):
    import json
    import os

    import nnlite

    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=3, audio=False)
    nnlite.set_num_threads(1)
    for extra, want in (([], max(1, os.cpu_count() // 2)), (["--threads", "2"], 2)):
        report = tmp_path / "r.json"
        assert run_cli(clip, "-t", "alpha", "-o", tmp_path / "out.mp4", "--json", report, *extra) == 0
        assert json.loads(report.read_text())["video"]["threads"] == want
        if nnlite.USE_NUMBA:  # without Numba there is one thread, whatever was asked
            assert nnlite.get_num_threads() == int((extra or ["", 1])[1])  # the images' count is back after the video


def test_camera_recording_keeps_the_times_of_capture(tmp_path, monkeypatch):
    """A camera's frames are stamped when they are captured, and the recording keeps those stamps:
    a camera (here a file standing in for one) delivering a frame every 0.1 s gives a video whose
    frames are 0.1 s apart, whatever frame rate the source claims (25 here)."""
    import types

    import matting.video

    camera = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(camera), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(8):
        frame = np.full((48, 64, 3), 40, np.uint8)
        cv2.circle(frame, (12 + 5 * i, 24), 9, (190, 170, 150), -1)
        writer.write(frame)
    writer.release()
    ticks = {"n": 0}

    def captured():  # the reader's clock: called once at the start, then once per frame
        ticks["n"] += 1
        return 0.1 * ticks["n"]

    monkeypatch.setattr(matting.video, "time", types.SimpleNamespace(perf_counter=captured))
    out = tmp_path / "recording.mp4"
    assert main(["--camera", str(camera), "--no-display", "--frames", "6", "-t", "alpha", "-o", str(out)]) == 0
    with av.open(str(out)) as container:
        times = [frame.time for frame in container.decode(video=0)]
    assert len(times) == 6
    np.testing.assert_allclose(np.diff(times), 0.1, atol=0.002)
