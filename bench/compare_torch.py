"""nnlite against torch (and ONNX Runtime, if installed) on the same shipped weights.

    python -m bench.compare_torch [--sizes 128,256,512] [--threads 1,2] [--repeats 30] [--json record.json]

Checks parity first (max abs alpha difference; refuses to time above 1e-4), then times the whole
network (LDN + feathering block) and its two parts, engines interleaved call by call so machine
noise hits all of them alike. Prints min / median / max ms, images/s and nnlite/torch (median; < 1
means nnlite is faster). Then the peak memory of an nnlite-only process on one 512 px image, and the
cold start of `python -m matting.infer`: with an empty Numba cache (the NumPy paths while the kernels
compile in the background, and how long that compile takes), with a warm one, and with --compile-now.
Without torch it prints nnlite's figures alone (for a Raspberry Pi or a phone).
"""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file (python bench/compare_torch.py): make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import contextlib
import json
import logging
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from bench.common import (AVX2_ISA_NOTE, EMULATE_AVX2_HELP, configuration, cpu_model, emulating_avx2, print_configuration,
                          rerun_emulating_avx2, set_threads, summary)
from matting import DEFAULT_WEIGHTS, resolve_weights
from matting.networks import open_network

PARITY_LIMIT = 1e-4
EXAMPLE = Path(__file__).resolve().parent.parent / "matting" / "examples" / "astronaut.jpg"


def torch_engines(weights_path):
    try:
        import torch
    except ImportError:
        return None
    from convert.export import model_from_weights

    model = model_from_weights(str(weights_path))

    def whole(x):
        with torch.no_grad():
            return model.predict_alpha(torch.from_numpy(x)).numpy()

    segmenter = model.ldn if hasattr(model, "ldn") else model.segmenter

    def ldn(x):
        with torch.no_grad():
            return torch.softmax(segmenter((torch.from_numpy(x) - model.mean) / model.std), 1)

    def feather(x, scores):
        with torch.no_grad():
            return model.feather(torch.from_numpy(x), scores).clamp(0, 1)

    return model, whole, ldn, feather


def onnx_engine(model, size, tmp):
    """ONNX Runtime on the same model, exported with torch.onnx; None when onnxruntime is absent."""
    try:
        import onnxruntime
        import torch
    except ImportError:
        return None

    class AlphaOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner.forward(x)[2].clamp(0, 1)

    path = os.path.join(tmp, f"fdm-{size}.onnx")
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter narrates every pass
            torch.onnx.export(AlphaOnly(model), torch.zeros(1, 3, size, size), path, input_names=["image"], output_names=["alpha"])
    except Exception as error:  # e.g. torch's exporter needs onnxscript, which onnxruntime does not bring
        print(f"# ONNX Runtime column skipped: torch.onnx.export failed ({type(error).__name__}: {str(error).splitlines()[0][:120]}); "
              f"pip install onnxscript", flush=True)
        return None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("BENCH_THREADS", "1"))
    # its workers otherwise keep spinning after a call and take the cores from the next engine
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"image": x})[0]


# Each engine's thread pool (torch's OpenMP, Numba's OpenMP, ONNX Runtime's own) spins for a while
# after a call before it sleeps; with two cores, the next engine's threads would run against those
# spinners. A short untimed pause lets every pool go idle, as it would be between frames of a video.
SETTLE_SECONDS = 0.02


def interleaved(engines: dict, repeats: int) -> dict:
    for fn in engines.values():
        fn()
    times = {name: [] for name in engines}
    for _ in range(repeats):
        for name, fn in engines.items():
            time.sleep(SETTLE_SECONDS)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: summary(t) for name, t in times.items()}


def peak_rss_mb(size: int, weights=DEFAULT_WEIGHTS) -> float:
    code = ("import resource, numpy as np\n"
            "from matting.networks import open_network\n"
            f"net = open_network({str(weights)!r})\n"
            f"net.forward(np.random.default_rng(0).random((1, 3, {size}, {size}), dtype=np.float32))\n"
            # VmHWM starts afresh at exec; ru_maxrss would also count the forked copy of this
            # (torch-laden) parent on Linux
            "try:\n"
            "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
            "    print(int(hwm) / 1024)\n"
            "except OSError:\n"
            "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    return float(out.stdout.strip().splitlines()[-1])


def cold_start_s(weights, numba_cache: str, fdm_cache: str, compile_now: bool = True) -> tuple[float, float | None]:
    """Wall time of `python -m matting.infer example -t alpha` (start to alpha written) with these
    caches; with compile_now=False (the command line's default on a cold cache: the NumPy paths
    while matting.warmup compiles in the background) also the time until that compile is done."""
    env = dict(os.environ, NUMBA_CACHE_DIR=numba_cache, FDM_CACHE_DIR=fdm_cache, FDM_KERNELS="now" if compile_now else "background")
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "matting.infer", str(EXAMPLE), "-t", "alpha", "-o", out, "--threads", "1",
                        "--weights", str(weights)], check=True, env=env, capture_output=True, cwd=Path(__file__).parent.parent)
        first = time.perf_counter() - t0
    while not compile_now and time.perf_counter() - t0 < 600:
        if list(Path(fdm_cache).glob("kernels-*.ready")):
            return first, time.perf_counter() - t0
        if not list(Path(fdm_cache).glob("kernels-*.lock")):
            break  # the background compile ended without its marker
        time.sleep(0.2)
    return first, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="128,256,512", help="square input sizes (default: %(default)s)")
    parser.add_argument("--threads", default="1,2", help="thread counts (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per engine and case (default: %(default)s)")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                        help="a shipped network's name or a weights file (default: the default network)")
    parser.add_argument("--skip-process", action="store_true", help="skip the memory and cold-start subprocess measurements")
    parser.add_argument("--json", type=Path, help="write the record here")
    parser.add_argument("--emulate-avx2", action="store_true", help=EMULATE_AVX2_HELP)
    args = parser.parse_args(argv)
    if args.emulate_avx2 and not emulating_avx2():
        rerun_emulating_avx2("bench.compare_torch", sys.argv[1:] if argv is None else argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    config = configuration({"weights": str(args.weights), "sizes": sizes, "threads": thread_counts, "repeats": args.repeats,
                            "isa": AVX2_ISA_NOTE if emulating_avx2() else "native"})
    print_configuration(config)

    t0 = time.perf_counter()
    network = open_network(resolve_weights(args.weights))
    rng = np.random.default_rng(0)
    network.forward(rng.random((1, 3, 32, 32), dtype=np.float32))
    first_call = time.perf_counter() - t0
    print(f"# nnlite load + first call (JIT compile or cache load): {first_call:.2f} s")
    torch_side = torch_engines(resolve_weights(args.weights))
    if torch_side is None:
        print("# torch not installed: nnlite figures only")
    record = {"configuration": config, "first_call_s": first_call, "cases": []}

    header = f"{'part':<8}{'size':>5}{'thr':>4} | {'engine':<7} {'min':>8} {'median':>8} {'max':>8} {'img/s':>7} | ratio (median)"
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            x = rng.random((1, 3, size, size), dtype=np.float32)
            if torch_side is not None:
                model, whole, ldn, feather = torch_side
                diff = float(np.abs(network.forward(x)["alpha"] - whole(x)).max())
                print(f"# parity at {size}px: max abs alpha difference nnlite vs torch = {diff:.2e}")
                if diff > PARITY_LIMIT:
                    sys.exit(f"error: parity {diff:.2e} exceeds {PARITY_LIMIT:g}; not timing engines that disagree")
            for threads in thread_counts:
                set_threads(threads)
                os.environ["BENCH_THREADS"] = str(threads)
                samples = []  # nnlite's parts: per-node stage timings of the same whole-network calls

                def run_nnlite():
                    stages = {}
                    network.forward(x, stages)
                    samples.append(stages)

                engines = {"whole": {"nnlite": run_nnlite}}
                if torch_side is not None:
                    engines["whole"]["torch"] = lambda: whole(x)
                    scores = ldn(x)
                    engines["ldn"] = {"torch": lambda: ldn(x)}
                    engines["fb"] = {"torch": lambda: feather(x, scores)}
                    runner = None if emulating_avx2() else onnx_engine(model, size, tmp)
                    if runner is not None:
                        engines["whole"]["onnxrt"] = lambda: runner(x)
                results = {part: interleaved(fns, args.repeats) for part, fns in engines.items()}
                for part, stage in (("ldn", "network"), ("fb", "feathering")):
                    results.setdefault(part, {})["nnlite"] = summary([s[stage] for s in samples[1:]])
                for part in ("whole", "ldn", "fb"):
                    for engine, stats in sorted(results[part].items()):
                        ratio = ""
                        if engine != "torch" and "torch" in results[part]:
                            ratio = f"{engine}/torch {stats['median_ms'] / results[part]['torch']['median_ms']:.2f}"
                        print(f"{part:<8}{size:>5}{threads:>4} | {engine:<7} {stats['min_ms']:8.2f} {stats['median_ms']:8.2f} "
                              f"{stats['max_ms']:8.2f} {1e3 / stats['median_ms']:7.1f} | {ratio}")
                    sys.stdout.flush()
                record["cases"].append({"size": size, "threads": threads, "results": results})
    if not args.skip_process:
        record["peak_rss_mb_512"] = peak_rss_mb(512, resolve_weights(args.weights))
        print(f"# peak RSS of an nnlite-only process, one 512 px image: {record['peak_rss_mb_512']:.0f} MB")
        weights = resolve_weights(args.weights)
        with tempfile.TemporaryDirectory() as numba_cache, tempfile.TemporaryDirectory() as fdm_cache:
            first, ready = cold_start_s(weights, numba_cache, fdm_cache, compile_now=False)
            record["cold_start_empty_cache_s"], record["kernels_ready_after_s"] = first, ready
            record["cold_start_warm_cache_s"] = min(cold_start_s(weights, numba_cache, fdm_cache)[0] for _ in range(3))
        with tempfile.TemporaryDirectory() as numba_cache, tempfile.TemporaryDirectory() as fdm_cache:
            record["cold_start_compile_now_s"] = cold_start_s(weights, numba_cache, fdm_cache)[0]
        ready = "never (see the .log in the fdm cache)" if ready is None else f"{ready:.1f} s"
        print(f"# cold start, python -m matting.infer to alpha written ({cpu_model()}): empty Numba cache "
              f"{record['cold_start_empty_cache_s']:.2f} s (NumPy paths; the kernels compiled in the background, ready "
              f"after {ready}), warm cache {record['cold_start_warm_cache_s']:.2f} s, empty cache with --compile-now "
              f"{record['cold_start_compile_now_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
