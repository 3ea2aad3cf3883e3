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
