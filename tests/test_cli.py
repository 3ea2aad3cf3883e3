"""End-to-end: the CLI on the shipped example, on video, and on the bad-input matrix."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from matting import SHIPPED_WEIGHTS
from matting.infer import main
from nnlite.weights import load_weights, save_weights

EXAMPLE = Path(__file__).resolve().parent.parent / "matting" / "examples" / "astronaut.jpg"


def run_cli(*args):
    return main([str(a) for a in args])


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_example_end_to_end_in_a_fresh_interpreter(tmp_path):
    before = digest(EXAMPLE)
    result = subprocess.run([sys.executable, "-m", "matting.infer", str(EXAMPLE), "-o", str(tmp_path), "--json"],
                            capture_output=True, text=True, check=True)
    timings = json.loads(result.stdout)
    assert {"network", "feathering", "refine", "decode", "encode"} <= set(timings["stages_ms"])
    alpha = cv2.imread(str(tmp_path / "astronaut.alpha.png"), cv2.IMREAD_UNCHANGED)
    composite = cv2.imread(str(tmp_path / "astronaut.composite.png"))
    assert alpha.shape == (512, 512) and alpha.dtype == np.uint8
    assert composite.shape == (512, 512, 3)
    # the astronaut's face and suit are foreground, the studio backdrop at the top right is not (the
    # flag at the top left is, to the default network: README, "Which network", says so)
    assert alpha[100:200, 180:300].mean() > 0.7 * 255, "face should be foreground"
    assert alpha[380:500, 60:300].mean() > 0.7 * 255, "suit should be foreground"
    assert alpha[0:60, 450:512].mean() < 0.5 * 255, "the top right corner should be background"
    assert digest(EXAMPLE) == before
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


@pytest.mark.parametrize("kind", ["rgba", "blur", "composite"])
def test_output_types(tmp_path, kind):
    assert run_cli(EXAMPLE, "-o", tmp_path / f"x.{kind}.png", "-t", kind, "--size", 64) == 0
    image = cv2.imread(str(tmp_path / f"x.{kind}.png"), cv2.IMREAD_UNCHANGED)
    assert image.shape == ((512, 512, 4) if kind == "rgba" else (512, 512, 3))


def test_weights_by_shipped_name(tmp_path):
    assert run_cli(EXAMPLE, "-o", tmp_path / "a.png", "-t", "alpha", "--weights", "fdm-128-g32") == 0
    alpha = cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED)
    assert alpha[100:200, 180:300].mean() > 0.7 * 255 and alpha[0:60, 0:60].mean() < 0.5 * 255


def test_background_image_and_refine_none(tmp_path):
    background = tmp_path / "back.png"
    cv2.imwrite(str(background), np.full((30, 40, 3), (255, 0, 0), np.uint8))
    assert run_cli(EXAMPLE, "-o", tmp_path / "c.png", "-t", "composite", "--background", background, "--refine", "none") == 0
    assert cv2.imread(str(tmp_path / "c.png"))[5, 5, 0] > 128  # a background corner shows the blue image


def write_variants(folder: Path):
    image = cv2.imread(str(EXAMPLE))
    small = cv2.resize(image, (60, 80))
    cv2.imwrite(str(folder / "gray.png"), cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(small, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "deep.png"), small.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "tiny.png"), small[:1, :1])
    return ["gray", "rgba", "deep", "tiny"]


def test_gray_rgba_16bit_and_1x1_images(tmp_path):
    names = write_variants(tmp_path)
    out = tmp_path / "out"
    assert run_cli(*[tmp_path / f"{n}.png" for n in names], "-o", out, "-t", "alpha") == 0
    for name in names:
        alpha = cv2.imread(str(out / f"{name}.alpha.png"), cv2.IMREAD_UNCHANGED)
        assert alpha.dtype == np.uint8 and alpha.shape == ((1, 1) if name == "tiny" else (80, 60))


def test_folder_with_a_bad_file_reports_it_and_goes_on(tmp_path, capsys):
    write_variants(tmp_path)
    (tmp_path / "broken.jpg").write_bytes(b"this is not a picture")
    assert run_cli(tmp_path, "-t", "alpha") == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "broken.jpg: not a readable image" in err
    assert len(list((tmp_path.parent / f"{tmp_path.name}_matte").glob("*.alpha.png"))) == 4


def truncated_jpeg(path):
    data = EXAMPLE.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("make,args,message", [
    (None, [], "no such file"),
    (lambda p: p.write_bytes(b""), [], "empty file"),
    (truncated_jpeg, [], "truncated JPEG"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40), [], "not a readable image"),
    (lambda p: p.write_text("hello"), [], "not a readable image"),
    (lambda p: p.write_bytes(EXAMPLE.read_bytes()), ["-t", "sparkles"], "unknown type 'sparkles'"),
    (lambda p: p.write_bytes(EXAMPLE.read_bytes()), ["--max-pixels", 1000], "larger than"),
    (lambda p: p.write_bytes(EXAMPLE.read_bytes()), ["--smooth", 2], "--smooth"),
    (lambda p: p.write_bytes(EXAMPLE.read_bytes()), ["--background", "#12"], "not #rrggbb"),
], ids=["missing", "empty", "truncated-jpeg", "truncated-png", "text", "unknown-type", "too-large", "bad-smooth", "bad-colour"])
def test_bad_inputs_give_one_line_and_nonzero_exit(tmp_path, capsys, make, args, message):
    path = tmp_path / "input.jpg"
    if make:
        make(path)
    before = path.read_bytes() if path.exists() else None
    assert run_cli(path, "-o", tmp_path / "out", *args) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    if before is not None:
        assert path.read_bytes() == before


def test_unwritable_output_and_empty_folder(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert run_cli(EXAMPLE, "-o", blocker / "sub", "-t", "alpha") == 1
    assert "cannot write" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli(tmp_path / "empty") == 1
    assert "no images or videos in this folder" in capsys.readouterr().err


def test_output_never_overwrites_input(tmp_path, capsys):
    copy = tmp_path / "p.png"
    cv2.imwrite(str(copy), cv2.imread(str(EXAMPLE)))
    before = digest(copy)
    assert run_cli(copy, "-o", copy, "-t", "alpha") == 1
    assert "overwrite an input" in capsys.readouterr().err and digest(copy) == before


def test_bad_weights_files(tmp_path, capsys):
    wrong_version = tmp_path / "v99.h5"
    wrong_version.write_bytes(SHIPPED_WEIGHTS["fdm-128"].read_bytes())
    with h5py.File(wrong_version, "r+") as f:
        f.attrs["format_version"] = 99
    assert run_cli(EXAMPLE, "-o", tmp_path, "--weights", wrong_version) == 1
    assert "format version 99" in capsys.readouterr().err
    wrong_shape = tmp_path / "shape.h5"  # a well-formed file (valid checksum) of the wrong shape
    weights = load_weights(SHIPPED_WEIGHTS["fdm-128"])
    save_weights(wrong_shape, {**weights.tensors, "ldn.final/weight": np.zeros((2, 32, 3, 3), np.float32)}, weights.attrs)
    assert run_cli(EXAMPLE, "-o", tmp_path, "--weights", wrong_shape) == 1
    err = capsys.readouterr().err
    assert "ldn.final/weight has shape (2, 32, 3, 3), expected (2, 64, 3, 3)" in err
    assert not list(tmp_path.glob("*.png"))


def make_video(path, frames, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    base = cv2.resize(cv2.imread(str(EXAMPLE)), size)
    for _ in range(frames):
        writer.write(base)
    writer.release()


def test_video_streams_frames_and_reports_flicker(tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    make_video(video, 6)
    report = tmp_path / "t.json"
    assert run_cli(video, "-t", "composite", "--smooth", 0.5, "--json", report) == 0
    out = cv2.VideoCapture(str(tmp_path / "clip.composite.mp4"))
    assert int(out.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    record = json.loads(report.read_text())
    assert record["video"]["frames"] == 6
    assert record["video"]["flicker_mean_abs_alpha_change"] < 0.02  # a static scene barely flickers
    assert "frames/s" in capsys.readouterr().err


def test_video_without_frames(tmp_path, capsys):
    video = tmp_path / "none.mp4"
    make_video(video, 0)
    assert run_cli(video, "-t", "composite") == 1
    err = capsys.readouterr().err
    assert "error:" in err and ("no frames" in err or "cannot open" in err or "no video stream" in err)
    assert not (tmp_path / "none.composite.mp4").exists()


def test_missing_camera_is_one_line(capsys):
    assert run_cli("--camera", 97, "--no-display", "--frames", 1) == 1
    assert "camera 97: no camera found" in capsys.readouterr().err


def test_help_shows_defaults_and_examples():
    text = subprocess.run([sys.executable, "-m", "matting.infer", "--help"], capture_output=True, text=True, check=True).stdout
    assert "default: alpha,composite" in text and "examples:" in text


def test_huge_image_is_downscaled_for_the_network_and_matted_at_full_size(tmp_path):
    """10000 x 10000: the network sees 128 px; the full-size matte is built in bands of rows."""
    huge = tmp_path / "huge.jpg"
    cv2.imwrite(str(huge), cv2.resize(cv2.imread(str(EXAMPLE)), (10000, 10000)), [cv2.IMWRITE_JPEG_QUALITY, 40])
    assert run_cli(huge, "-o", tmp_path, "-t", "alpha") == 0
    alpha = cv2.imread(str(tmp_path / "huge.alpha.png"), cv2.IMREAD_UNCHANGED)
    assert alpha.shape == (10000, 10000)


def test_output_format_must_hold_the_output_type(tmp_path, capsys):
    assert run_cli(EXAMPLE, "-o", tmp_path / "cut.jpg", "-t", "rgba") == 1
    assert "cannot store a rgba image as .jpg" in capsys.readouterr().err
    assert run_cli(EXAMPLE, "-o", tmp_path / "comp.jpg", "-t", "composite", "--size", 64) == 0


def test_output_file_names(tmp_path, capsys):
    """-o with an image extension is the output file with one input and one type; a file name where
    several files would be written is refused in one line, and nothing is created."""
    out = tmp_path / "result.png"
    assert run_cli(EXAMPLE, "-t", "composite", "-o", out, "--size", "64") == 0 and out.is_file()
    capsys.readouterr()
    for argv in ([EXAMPLE, "-o", tmp_path / "two.png"],                              # alpha + composite
                 [EXAMPLE, "-t", "alpha", "-o", tmp_path / "clip.mp4"],              # an image into a video name
                 [EXAMPLE, EXAMPLE, "-t", "alpha", "-o", tmp_path / "many.png"]):    # two inputs, one file
        assert run_cli(*argv, "--size", "64") != 0
        err = capsys.readouterr().err
        assert err.strip().count("\n") == 0 and err.startswith("error: -o "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.png"]


def test_console_command_version_and_one_line_usage_errors(tmp_path):
    import shutil

    from matting import __version__

    fdm = shutil.which("fdm", path=str(Path(sys.executable).parent))
    assert fdm, "pip install should put the fdm command beside python"
    version = subprocess.run([fdm, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert version == f"fdm (fast-deep-matting) {__version__}"
    assert subprocess.run([fdm, str(EXAMPLE), "-t", "alpha", "-o", str(tmp_path / "a.png"), "--size", "64"]).returncode == 0
    assert cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED).shape == (512, 512)
    for bad in (["--frames", "0"], ["--threads", "-2"], ["--frames", "x"]):
        result = subprocess.run([fdm, str(EXAMPLE), *bad], capture_output=True, text=True)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and "see fdm --help" in result.stderr


def test_stdin_to_stdout(tmp_path):
    result = subprocess.run([sys.executable, "-m", "matting.infer", "-", "-t", "rgba", "-o", "-"],
                            input=EXAMPLE.read_bytes(), capture_output=True, check=True)
    cutout = cv2.imdecode(np.frombuffer(result.stdout, np.uint8), cv2.IMREAD_UNCHANGED)
    assert cutout.shape == (512, 512, 4) and cutout[100:200, 180:300, 3].mean() > 0.7 * 255
    assert b"stdin -> stdout" in result.stderr
    refused = subprocess.run([sys.executable, "-m", "matting.infer", "-"], input="", capture_output=True, text=True)
    assert refused.returncode == 1 and "needs -o" in refused.stderr


def test_folder_with_videos_and_other_files_ends_with_a_summary(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), cv2.resize(cv2.imread(str(EXAMPLE)), (64, 64)))
    make_video(folder / "clip.mp4", 3)
    (folder / "notes.txt").write_text("not a picture")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    assert run_cli(folder, "-t", "alpha", "--size", 64) == 1
    # on a cold Numba cache a line saying what was compiled follows the summary
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("compiled ")]
    assert lines[-1] == "done 2, failed 1, skipped 1 (notes.txt: not images or videos)"
    out = tmp_path / "in_matte"
    assert (out / "a.alpha.png").is_file() and (out / "clip.alpha.mp4").is_file()
    assert int(cv2.VideoCapture(str(out / "clip.alpha.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 3


@pytest.mark.skipif(not __import__("nnlite").USE_NUMBA, reason="nothing is compiled without Numba")
def test_first_run_says_it_compiles_and_the_second_does_not(tmp_path):
    env = dict(__import__("os").environ, NUMBA_CACHE_DIR=str(tmp_path / "empty-cache"))
    command = [sys.executable, "-m", "matting.infer", str(EXAMPLE), "-o", str(tmp_path / "out")]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stderr
    assert first.splitlines()[0].startswith("compiling the engine's kernels for this CPU: first run only")
    assert first.splitlines()[-1].startswith("compiled ") and "cached for the next runs" in first
    second = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stderr
    assert not any(line.startswith(("compiling", "compiled")) for line in second.splitlines())
    assert (tmp_path / "out" / "astronaut.alpha.png").is_file()


def test_missing_camera_prints_our_line_only(tmp_path):
    """OpenCV's own "[ WARN ] can't open camera by index" lines would come before ours: silenced."""
    result = subprocess.run([sys.executable, "-m", "matting.infer", "--camera", "97", "--no-display", "-o", str(tmp_path / "c.mp4"),
                             "-t", "alpha"], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: camera 97: no camera found at this index; check that a camera is connected, or try --camera 1"]


def test_readme_test_command_installs_no_torch():
    """An ordinary Linux index resolves torch to the CUDA build and gigabytes of NVIDIA wheels: the
    newcomer's test command must not pull torch; the parity step (README, CI) installs the CPU build."""
    import configparser

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    command = readme.split("<!-- test-command -->")[1].split("```bash\n")[1].splitlines()[0]
    extras = command.split('pip install ".[')[1].split("]")[0].split(",")
    config = configparser.ConfigParser()
    config.read(root / "setup.cfg")
    for extra in extras:
        assert "torch" not in config["options.extras_require"][extra], f"extra {extra!r} pulls torch"
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme
