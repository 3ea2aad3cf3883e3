"""Per-layer benchmark: nnlite against torch eager on every conv shape of the paper's model, then
on a MobileNet-style layer set (the encoder-decoder's depthwise and pointwise convs, residual,
upsampling with a skip, and whole inverted-residual blocks).

    python -m bench.ops [--sizes 128,256,512] [--threads 1,2] [--repeats 20] [--json ops.json] [--only conv|mobile]

For each input size (square, each layer at its own resolution) and thread count, prints
min / median / max ms, GFLOP/s and the ratio nnlite/torch (median; < 1 means nnlite is faster).
The engines are timed alternately, one call each in turn, so machine noise hits both alike.
Parity is checked before timing. nnlite runs each mobile layer as a one-node graph step, the way
the network runs it (zero-bordered buffers, arguments bound once). Runs without torch (nnlite
figures only) on a Pi or a phone.
"""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file (python bench/ops.py): make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import json
import time

import numpy as np

from bench.common import (AVX2_ISA_NOTE, EMULATE_AVX2_HELP, configuration, emulating_avx2, print_configuration,
                          rerun_emulating_avx2, set_threads, summary)
from bench.mobile_layers import mobile_layers
from nnlite.ops import conv2d
from nnlite.ops.conv2d import conv2d_kernel_name


def model_layers(size: int):
    """(name, C, K, H, W, stride, padding, dilation) for a size x size input."""
    half = size // 2
    layers = [("initial 3->13 s2", 3, 13, size, size, 2, 1, 1)]
    for k, d in enumerate((2, 4, 6, 8)):
        layers.append((f"dense{k + 1} {16 * (k + 1)}->16 d{d}", 16 * (k + 1), 16, half, half, 1, d, d))
    layers += [("final 64->2", 64, 2, half, half, 1, 1, 1),
               ("feather 11->8", 11, 8, size, size, 1, 1, 1),
               ("feather 8->3", 8, 3, size, size, 1, 1, 1)]
    return layers



def timed_pair(run_nnlite, run_torch, repeats):
    times = {"nnlite": [], "torch": []}
    for _ in range(3):
        run_nnlite()
        run_torch and run_torch()
    for _ in range(repeats):
        t = time.perf_counter(); run_nnlite(); times["nnlite"].append(time.perf_counter() - t)
        if run_torch:
            t = time.perf_counter(); run_torch(); times["torch"].append(time.perf_counter() - t)
    return times


def report(name, size, threads, kernel, flops, times):
    record = {"layer": name, "size": size, "threads": threads, "flops": flops, "kernel": kernel,
              "nnlite": summary(times["nnlite"])}
    record["nnlite"]["gflops"] = flops / record["nnlite"]["median_ms"] / 1e6
    line = (f"{name:<24}{size:>5}{threads:>4}{kernel:>8} | "
            f"{record['nnlite']['min_ms']:7.3f}/{record['nnlite']['median_ms']:7.3f}/{record['nnlite']['max_ms']:7.3f}  "
            f"{record['nnlite']['gflops']:6.1f} | ")
    if times["torch"]:
        record["torch"] = summary(times["torch"])
        record["torch"]["gflops"] = flops / record["torch"]["median_ms"] / 1e6
        record["ratio"] = record["nnlite"]["median_ms"] / record["torch"]["median_ms"]
        line += (f"{record['torch']['min_ms']:7.3f}/{record['torch']['median_ms']:7.3f}/{record['torch']['max_ms']:7.3f}  "
                 f"{record['torch']['gflops']:6.1f} | {record['ratio']:.2f}")
    print(line, flush=True)
    return record


HEADER = (f"{'layer':<24}{'size':>5}{'thr':>4}{'kernel':>8} | {'nnlite min/med/max ms':>24} {'GF/s':>6} | "
          f"{'torch min/med/max ms':>24} {'GF/s':>6} | ratio")


def conv_rows(args, sizes, thread_counts, rng, torch):
    if torch is not None:
        import torch.nn.functional as F
    records = []
    print(HEADER)
    for size in sizes:
        for threads in thread_counts:
            set_threads(threads)
            for name, c, k, h, w, stride, padding, dilation in model_layers(size):
                x = rng.standard_normal((1, c, h, w)).astype(np.float32)
                weight = (rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
                bias = rng.standard_normal(k).astype(np.float32)
                out = conv2d(x, weight, bias, stride, padding, dilation)
                flops = 2 * out.size * c * 9
                run_nnlite = lambda: conv2d(x, weight, bias, stride, padding, dilation, out=out)
                run_torch = None
                if torch is not None:
                    xt, wt, bt = map(torch.from_numpy, (x, weight, bias))
                    want = F.conv2d(xt, wt, bt, stride, padding, dilation).numpy()
                    err = float(np.abs(want - out).max())
                    if err > 1e-4:
                        print(f"{name}: parity failed (max abs {err:.3g}); not timing", file=sys.stderr)
                        continue
                    run_torch = lambda: F.conv2d(xt, wt, bt, stride, padding, dilation)
                times = timed_pair(run_nnlite, run_torch, args.repeats)
                kernel = conv2d_kernel_name(weight.shape, stride, dilation, out.shape[3])
                record = report(name, size, threads, kernel, flops, times)
                records.append(record)
    return records


def mobile_rows(args, sizes, thread_counts, torch):
    records = []
    print(HEADER)
    for size in sizes:
        for threads in thread_counts:
            set_threads(threads)
            for layer in mobile_layers(size, torch):
                err = layer.parity()
                if err is not None and err > 1e-4:
                    print(f"{layer.name}: parity failed (max abs {err:.3g}); not timing", file=sys.stderr)
                    continue
                times = timed_pair(layer.run_nnlite, layer.run_torch, args.repeats)
                records.append(report(layer.name, size, threads, layer.kernel, layer.flops, times))
    return records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="128,256,512", help="input sizes (default: %(default)s)")
    parser.add_argument("--threads", default="1,2", help="thread counts (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per engine (default: %(default)s)")
    parser.add_argument("--json", help="write the records to this file")
    parser.add_argument("--only", choices=("conv", "mobile"), help="run one of the two layer sets")
    parser.add_argument("--emulate-avx2", action="store_true", help=EMULATE_AVX2_HELP)
    args = parser.parse_args(argv)
    if args.emulate_avx2 and not emulating_avx2():
        rerun_emulating_avx2("bench.ops", sys.argv[1:] if argv is None else argv)
    try:
        import torch
    except ImportError:
        torch = None
    sizes = [int(s) for s in args.sizes.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    config = configuration({"sizes": sizes, "threads": thread_counts, "repeats": args.repeats,
                            "isa": AVX2_ISA_NOTE if emulating_avx2() else "native"})
    print_configuration(config)
    rng = np.random.default_rng(0)

    t0 = time.perf_counter()
    for layer in model_layers(16):
        _, c, k, h, w, s, p, d = layer
        conv2d(np.zeros((1, c, h, w), np.float32), np.zeros((k, c, 3, 3), np.float32), np.zeros(k, np.float32), s, p, d, True)
    print(f"# nnlite JIT compile / cache load, all conv kernels: {time.perf_counter() - t0:.2f} s")

    records = []
    if args.only != "mobile":
        records += conv_rows(args, sizes, thread_counts, rng, torch)
    if args.only != "conv":
        records += mobile_rows(args, sizes, thread_counts, torch)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"configuration": config, "records": records}, f, indent=1)


if __name__ == "__main__":
    main()
