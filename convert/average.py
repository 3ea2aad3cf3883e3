"""The mean of the weights of training runs that began from the same weights: a "model soup"
(Wortsman et al., 2022). Runs fine-tuned from one start stay in one basin of the loss, so the mean
of their weights is a model of its own, often better than each run (on 2026-12-07 two runs of
mnv2-unet-deeper-fb2 from the shipped weights, 224 and 192 px crops, validation mean IoU 0.8976 and
0.8978, their mean 0.9011). BN running statistics are averaged as well; integer buffers are taken
from the first checkpoint.

    python -m convert.average runs/a/best.pt runs/b/best.pt -o runs/soup.pt
    python -m convert.export runs/soup.pt matting/weights/fdm-people-256.h5

The result is a checkpoint like the trainer's (model, arch, box_radius) whose "averaged_from"
lists each source's settings and step; convert.export records them in the weights file. A source
that is itself such a mean counts as the runs it holds, so a run trained later joins the mean
without the earlier runs' checkpoints (the mean of four and a fifth run: 4/5 and 1/5):

    python -m convert.average runs/soup.pt runs/c/best.pt -o runs/soup5.pt
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


def average_checkpoints(states: list[dict]) -> dict:
    """The mean of the checkpoints' models; they must be of one architecture."""
    if len(states) < 2:
        raise ValueError("give at least two checkpoints to average")
    first = states[0]
    for state in states[1:]:
        if state.get("arch") != first.get("arch") or state["model"].keys() != first["model"].keys():
            raise ValueError("the checkpoints hold different architectures: only runs of one design can be averaged")
    runs = [len(state.get("averaged_from", ())) or 1 for state in states]
    model = {}
    for name, value in first["model"].items():
        if value.is_floating_point():
            total = sum(count * state["model"][name].double() for count, state in zip(runs, states))
            model[name] = total.div(sum(runs)).to(value.dtype)
        else:
            model[name] = value.clone()
    sources = []
    for state in states:
        sources += state.get("averaged_from") or [{"config": state.get("config", {}), "step": int(state.get("step", 0))}]
    return {"model": model, "arch": first["arch"], "box_radius": first.get("box_radius", 2), "step": 0,
            "averaged_from": sources}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", type=Path, nargs="+", help="checkpoints of python -m convert.train_encoder_decoder")
    parser.add_argument("-o", "--out", type=Path, required=True, help="checkpoint to write")
    args = parser.parse_args(argv)
    try:
        states = [torch.load(path, weights_only=True) for path in args.checkpoints]
        averaged = average_checkpoints(states)
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        parser.exit(1, f"error: {error}\n")
    temporary = args.out.with_name(args.out.name + ".partial")
    torch.save(averaged, temporary)
    temporary.replace(args.out)
    print(f"wrote {args.out}: the mean of {len(averaged['averaged_from'])} runs", file=sys.stderr)


if __name__ == "__main__":
    main()
