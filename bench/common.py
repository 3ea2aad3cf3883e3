"""Shared benchmark plumbing: configuration header, timers, statistics. Prints; never asserts."""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model", "Hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def configuration(extra: dict | None = None) -> dict:
    import numpy

    import nnlite

    config = {"cpu": cpu_model(), "machine": platform.machine(), "cores": os.cpu_count(),
              "python": platform.python_version(), "numpy": numpy.__version__,
              "numba": "disabled" if not nnlite.USE_NUMBA else __import__("numba").__version__}
    try:
        import torch

        config["torch"] = torch.__version__
    except ImportError:
        config["torch"] = "not installed"
    config.update(extra or {})
    return config


def print_configuration(config: dict) -> None:
    print("# configuration")
    for key, value in config.items():
        print(f"#   {key}: {value}")
    sys.stdout.flush()


def time_call(fn, repeats: int) -> list[float]:
    """Wall-clock seconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def summary(times: list[float]) -> dict:
    return {"min_ms": min(times) * 1e3, "median_ms": statistics.median(times) * 1e3, "max_ms": max(times) * 1e3}


def set_threads(threads: int) -> None:
    import nnlite

    nnlite.set_num_threads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


EMULATE_AVX2_HELP = ("on an AVX-512 machine, time the AVX2 code paths: nnlite's kernels compiled for Haswell with every "
                     "AVX-512 feature off (256-bit vectors, AVX2 kernel shapes), torch's oneDNN, ATen and MKL limited to "
                     "AVX2; the ONNX Runtime column is left out (its ISA cannot be limited)")


def avx2_environment() -> dict:
    """Environment variables that make numba, torch (oneDNN, ATen, MKL) use AVX2 code on an AVX-512 CPU.

    NUMBA_CPU_NAME alone is not enough: Numba still passes the host's feature list to LLVM, which
    then emits AVX-512 instructions for a "haswell"; the features must say -avx512f etc. And torch
    runs many convs and matrix products in MKL, which has its own switch."""
    from llvmlite import binding

    features = [("-" + f[1:]) if f[1:].startswith(("avx512", "amx", "avxvnni", "avx10", "evex512")) else f
                for f in binding.get_host_cpu_features().flatten().split(",") if f]
    return {"FDM_EMULATING_AVX2": "1", "NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ",".join(features),
            "NNLITE_PREFER_256_BIT": "1", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


AVX2_ISA_NOTE = "AVX2 emulated (numba: haswell, AVX-512 features off; torch: oneDNN, ATen and MKL limited to AVX2)"


def rerun_emulating_avx2(module: str, argv) -> None:
    """Runs `python -m module argv` again with avx2_environment() and exits with its status: the
    variables must be set before numba, torch and oneDNN start."""
    import subprocess

    env = dict(os.environ, **avx2_environment())
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.exit(subprocess.run([sys.executable, "-m", module, *argv], env=env, cwd=root).returncode)


def emulating_avx2() -> bool:
    return os.environ.get("FDM_EMULATING_AVX2") == "1"
