"""Three-stage training of the fast deep matting network on EG1800 (paper section 4.1).

    stage 1  LDN alone, cross-entropy against the binary masks
    stage 2  feathering block alone, LDN frozen: Charbonnier alpha loss + w * compositional loss
    stage 3  both, small learning rate: the stage-2 loss + ce_weight * cross-entropy

Adam with cosine decay replaces the paper's SGD (batch 256, momentum 0.99): our batches are small
and the run has to fit in about an hour on two CPU cores. A checkpoint (`last.pt`) is written every
few minutes and at each stage end; `--resume` continues from it. The best model of each stage on
the validation list (unlisted.txt) is kept as `stage{N}-best.pt`, and the next stage starts from it.

    python -m convert.train --out runs/fdm128 [--data ../shared/data/eg1800] [--resume]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from convert.data import DEFAULT_DATA_DIR, augmented_batch, load_split, whole_images
from convert.model import DEFAULT_BOX_RADIUS, GROWTH, FastDeepMatting

CHECKPOINT_SECONDS = 180  # also written at every stage end


def run_log(path: Path, stamp: str = "%H:%M:%S"):
    """say(msg): one time-stamped line to stderr and appended to the run's log file."""
    log = open(path, "a")

    def say(msg):
        line = f"{time.strftime(stamp)} {msg}"
        print(line, file=sys.stderr, flush=True)
        log.write(line + "\n")
        log.flush()
    return say


def mean(values, weight=None):
    """The mean, or with a per-pixel weight (N x 1 x H x W) the weighted mean over every element."""
    if weight is None:
        return values.mean()
    return (values * weight).sum() / weight.expand_as(values).sum()


def charbonnier(x, eps=1e-3, weight=None):
    return mean(torch.sqrt(x * x + eps * eps), weight)


def squared(x, weight=None):
    return mean(x * x, weight)


# The paper's Charbonnier penalty is an L1 in disguise: it drives alpha towards the median, that is
# towards 0 or 1 wherever the segmentation is unsure, which raises the MSE it is judged by. "l2"
# keeps the paper's two terms (alpha and compositional) with a squared penalty.
ALPHA_PENALTIES = {"charbonnier": charbonnier, "l2": squared}


def matting_loss(alpha_pred, alpha_true, image01, colour_weight, penalty=charbonnier, weight=None):
    """Paper eq. 6: a penalty on the alpha error plus the compositional loss on alpha * I (summed over RGB);
    `weight`, per pixel, weighs both."""
    colour = penalty((alpha_true - alpha_pred) * image01, weight=weight) * 3
    return penalty(alpha_true - alpha_pred, weight=weight) + colour_weight * colour


def stage_parameters(model, stage):
    if stage == 1:
        return list(model.ldn.parameters())
    if stage == 2:
        return list(model.feather.parameters())
    return list(model.parameters())


def set_train_mode(model, stage):
    model.train()
    if stage == 2:
        model.ldn.eval()  # frozen: its BatchNorm statistics must not drift either
    for p in model.ldn.parameters():
        p.requires_grad_(stage != 2)
    for p in model.feather.parameters():
        p.requires_grad_(stage != 1)


@torch.no_grad()
def validate(model, val, stage):
    model.eval()
    images, alphas, masks = val
    _, scores, alpha = model(torch.from_numpy(images))
    pred = scores[:, 1:2] if stage == 1 else alpha.clamp(0, 1)
    pred = pred.numpy()
    fg = pred[:, 0] > 0.5
    truth = masks.astype(bool)
    iou = np.logical_and(fg, truth).sum() / max(np.logical_or(fg, truth).sum(), 1)
    return {"mse": float(np.mean((pred - alphas) ** 2)), "iou": float(iou)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="EG1800 folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="run folder for checkpoints and the log")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fdm", help="decoded-data cache (default: %(default)s)")
    parser.add_argument("--steps", default="8000,2000,2000", help="steps of stages 1,2,3 (default: %(default)s)")
    parser.add_argument("--lr", default="2e-3,1e-3,1e-4", help="peak Adam learning rate per stage (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default: %(default)s)")
    parser.add_argument("--box-radius", type=int, default=DEFAULT_BOX_RADIUS, help="FB box radius r (default: %(default)s)")
    parser.add_argument("--growth", type=int, default=GROWTH,
                        help="channels each dense layer adds (default: %(default)s, the paper's; wider = slower, more capacity)")
    parser.add_argument("--colour-weight", type=float, default=0.5, help="compositional loss weight w (default: %(default)s)")
    parser.add_argument("--ce-weight", type=float, default=0.5, help="cross-entropy weight in stage 3 (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s; leave a core free)")
    parser.add_argument("--validate-every", type=int, default=250, help="steps between validations (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--scales", default="0.75,1.5", help="random zoom range (default: %(default)s, the paper's)")
    parser.add_argument("--max-angle", type=float, default=30.0, help="random rotation range in degrees (default: %(default)s, the paper's)")
    parser.add_argument("--alpha-loss", choices=sorted(ALPHA_PENALTIES), default="charbonnier",
                        help="penalty of the stage 2-3 alpha and compositional losses (default: %(default)s, the paper's)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--init", type=Path, help="start from this checkpoint's model (e.g. another run's stage1-best.pt)")
    parser.add_argument("--start-stage", type=int, choices=(1, 2, 3), default=1,
                        help="first stage to train; with --init, later stages reuse its earlier ones (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.start_stage > 1 and not args.init and not args.resume:
        parser.error("--start-stage 2 or 3 needs --init with a checkpoint of the earlier stages")

    missing = [name for name in ("train.txt", "unlisted.txt", "images", "alpha", "masks") if not (args.data / name).exists()]
    if missing:  # checked before the run folder is made, so a wrong path leaves nothing behind
        parser.error(f"--data {args.data}: not an EG1800 folder ({missing[0]} missing); pass the folder that holds "
                     f"train.txt, unlisted.txt, images/, alpha/ and masks/")
    torch.set_num_threads(args.threads)
    steps = [int(s) for s in args.steps.split(",")]
    lrs = [float(s) for s in args.lr.split(",")]
    scales = tuple(float(s) for s in args.scales.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    say = run_log(args.out / "train.log")

    train = load_split(args.data, "train.txt", args.cache)
    val = whole_images(load_split(args.data, "unlisted.txt", args.cache))
    torch.manual_seed(args.seed)
    model = FastDeepMatting(args.box_radius, args.growth)
    stage, step, best = args.start_stage, 0, math.inf
    optimiser = None
    if args.init and not (args.resume and (args.out / "last.pt").exists()):
        model.load_state_dict(torch.load(args.init, weights_only=True)["model"])
    if args.resume and (args.out / "last.pt").exists():
        state = torch.load(args.out / "last.pt", weights_only=True)
        model.load_state_dict(state["model"])
        stage, step, best = state["stage"], state["step"], state["best"]
        if stage <= 3:
            optimiser = torch.optim.AdamW(stage_parameters(model, stage), lr=lrs[stage - 1], weight_decay=1e-4)
            optimiser.load_state_dict(state["optimiser"])
        say(f"resumed at stage {stage} step {step}" if stage <= 3 else "nothing to resume: training had finished")
    say(f"config {json.dumps({k: str(v) for k, v in vars(args).items()})}")

    def save(name):
        torch.save({"model": model.state_dict(), "stage": stage, "step": step, "best": best,
                    "optimiser": optimiser.state_dict(), "box_radius": args.box_radius, "growth": args.growth,
                    "config": {k: str(v) for k, v in vars(args).items()}}, args.out / f"{name}.tmp")
        (args.out / f"{name}.tmp").replace(args.out / name)

    while stage <= 3:
        if optimiser is None:
            optimiser = torch.optim.AdamW(stage_parameters(model, stage), lr=lrs[stage - 1], weight_decay=1e-4)
        set_train_mode(model, stage)
        last_save, t0, running = time.time(), time.time(), []
        while step < steps[stage - 1]:
            lr = lrs[stage - 1] * 0.5 * (1 + math.cos(math.pi * step / steps[stage - 1]))
            for group in optimiser.param_groups:
                group["lr"] = lr
            rng = np.random.default_rng([args.seed, stage, step])
            images, alphas, masks = augmented_batch(train, rng.integers(0, len(train["ids"]), args.batch), rng,
                                                    scales, args.max_angle)
            images, alphas, masks = map(torch.from_numpy, (images, alphas, masks))
            logits, scores, alpha = model(images)
            if stage == 1:
                loss = F.cross_entropy(logits, masks)
            else:
                loss = matting_loss(alpha, alphas, images, args.colour_weight, ALPHA_PENALTIES[args.alpha_loss])
                if stage == 3:
                    loss = loss + args.ce_weight * F.cross_entropy(logits, masks)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            running.append(loss.item())
            if step % args.validate_every == 0 or step == steps[stage - 1]:
                metrics = validate(model, val, stage)
                set_train_mode(model, stage)
                rate = len(running) / (time.time() - t0)
                eta = (steps[stage - 1] - step) / rate
                say(f"stage {stage} step {step}/{steps[stage - 1]} loss {np.mean(running):.4f} lr {lr:.2e} "
                    f"val mse {metrics['mse']:.4f} iou {metrics['iou']:.4f} ({rate:.2f} steps/s, stage eta {eta / 60:.0f} min)")
                running, t0 = [], time.time()
                if metrics["mse"] < best:
                    best = metrics["mse"]
                    save(f"stage{stage}-best.pt")
            if time.time() - last_save > CHECKPOINT_SECONDS:
                save("last.pt")
                last_save = time.time()
        if not (args.out / f"stage{stage}-best.pt").exists():
            save(f"stage{stage}-best.pt")
        say(f"stage {stage} done, best val mse {best:.4f}")
        model.load_state_dict(torch.load(args.out / f"stage{stage}-best.pt", weights_only=True)["model"])
        stage, step, best, optimiser = stage + 1, 0, math.inf, None
        if stage <= 3:
            torch.save({"model": model.state_dict(), "stage": stage, "step": 0, "best": best,
                        "optimiser": torch.optim.AdamW(stage_parameters(model, stage)).state_dict(),
                        "box_radius": args.box_radius, "growth": args.growth}, args.out / "last.tmp")
            (args.out / "last.tmp").replace(args.out / "last.pt")
    torch.save({"model": model.state_dict(), "stage": 4, "step": 0, "best": best, "box_radius": args.box_radius, "growth": args.growth,
                "config": {k: str(v) for k, v in vars(args).items()}}, args.out / "last.tmp")
    (args.out / "last.tmp").replace(args.out / "last.pt")
    say("training finished")


if __name__ == "__main__":
    main()
