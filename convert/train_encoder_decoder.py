"""Training of the encoder-decoder matting network (convert/encoder_decoder.py) on people of every
kind: EG1800 portraits + CCP full-body photos, composited onto streets and rendered scenes
(convert/people_data.py).

One stage trains the segmenter and the feathering block together: the feathering block starts as
the identity on S_F (convert/model.py), so the alpha loss is sound from the first step.

    loss = CE(logits, mask) + Dice(S_F, alpha) + Charbonnier(alpha_pred - alpha) + w * compositional

(--edge-weight counts the pixels near the outline more in CE and the two penalties.) AdamW, linear
warm-up, then cosine decay to 2 % of the peak over --steps. The run is made to go on in chunks on a
2-core machine: `last.pt` is written every few minutes (model, optimiser, step, random state is a
function of the step), `--resume` continues from it, and `best.pt` keeps the best model on the
validation lists (CCP val.txt and EG1800 unlisted.txt, at 256 px long side, by their mean
foreground IoU). Validation never touches EG1800 test.txt or the kept-aside CCP ids. When a chunk
ends, `resume.pt` (the model and the step, without the optimiser: 3.3 MB, small enough to commit)
lets `--resume` go on from a fresh clone on another machine, AdamW's moments restarting.

With --ema DECAY the run also keeps an exponential moving average of the weights and BN statistics
(WeightAverage): validation scores the average, and best.pt holds it. Batch-16 steps on one core
are noisy (validation IoU swings by 0.01 between checkpoints) and the mean of several runs' weights
scores above every run in it; the average is that mean taken along one run, for free.

    python -m convert.train_encoder_decoder --out runs/ed --arch mnv2-unet [--resume]
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import signal
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from convert.encoder_decoder import ARCHITECTURES, EncoderDecoderMatting, grow_from
from convert.model import DEFAULT_BOX_RADIUS
from convert.people_data import SHARED_DATA, SampleMaker, load_people, load_streets, validation_set
from convert.train import charbonnier, matting_loss, mean, run_log

CHECKPOINT_SECONDS = 300
PROGRESS_STEPS = 100  # a line on stderr; the log gets the validations
EDGE_RADIUS = 3  # pixels of a training crop either side of the outline that --edge-weight weighs up
RESUMED_SETTINGS = {"arch": str, "steps": int, "lr": float, "batch": int, "size": int, "seed": int,
                    "colour_weight": float, "box_radius": int, "edge_weight": float, "zoom_bias": float,
                    "ema": float, "ccp_share": float}


def dice_loss(foreground, alpha, eps=1.0):
    inter = (foreground * alpha).sum((1, 2, 3))
    total = foreground.sum((1, 2, 3)) + alpha.sum((1, 2, 3))
    return (1 - (2 * inter + eps) / (total + eps)).mean()


def edge_band(masks, radius):
    """1 within `radius` pixels (a square window) of the mask's outline, either side, else 0:
    N x 1 x H x W float. The mask dilated minus the mask eroded, in OpenCV on uint8: torch's 7x7
    max_pool2d took 45 ms of a 390 ms training step for the two."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    band = [cv2.dilate(mask, kernel) - cv2.erode(mask, kernel) for mask in masks.numpy().astype(np.uint8)]
    return torch.from_numpy(np.stack(band)[:, None].astype(np.float32))


def training_loss(logits, scores, alpha_pred, alpha_true, masks, images, colour_weight, edge_weight=0.0):
    """With edge_weight w, pixels within EDGE_RADIUS of the outline count 1 + w times in the
    cross-entropy and the alpha and colour penalties: they are a few per cent of a crop's pixels
    but most of a full-body photo's error (matting.evaluate's Edge%: 59 % of CCP val's MSE)."""
    weight = 1 + edge_weight * edge_band(masks, EDGE_RADIUS) if edge_weight else None
    cross_entropy = mean(F.cross_entropy(logits, masks, reduction="none")[:, None], weight)
    segmentation = cross_entropy + dice_loss(scores[:, 1:2], alpha_true)
    return segmentation + matting_loss(alpha_pred, alpha_true, images, colour_weight, charbonnier, weight)


@torch.no_grad()
def evaluate_set(model, images, alphas, batch=16):
    """Mean per-image foreground IoU (alpha >= 0.5 on both sides) and MSE of the clipped alpha."""
    model.eval()
    ious, errors = [], []
    for start in range(0, len(images), batch):
        pred = model.predict_alpha(torch.from_numpy(images[start:start + batch])).numpy()
        truth = alphas[start:start + batch]
        for p, t in zip(pred, truth):
            fg, true_fg = p >= 0.5, t >= 0.5
            union = np.logical_or(fg, true_fg).sum()
            ious.append(1.0 if union == 0 else np.logical_and(fg, true_fg).sum() / union)
            errors.append(float(np.mean((p - t) ** 2)))
    return float(np.mean(ious)), float(np.mean(errors))


@torch.no_grad()
def model_from_nnlite_weights(path: Path, maker: SampleMaker, batch: int, batches: int = 8) -> EncoderDecoderMatting:
    """A trainable model holding a shipped (BN-folded) weights file.

    convert.export.model_from_weights sets every BN to the identity, which only holds in eval mode:
    in training, BN normalises by the batch's statistics and the folded function is lost. So each BN
    gets the statistics its conv's output actually has on training samples (mean m, variance v) and
    the affine that undoes them (gamma = sqrt(v + eps), beta = folded bias + m): the same function in
    eval mode, and close to it on a training batch, so training goes on from where the file left off.
    """
    from convert.export import model_from_weights

    model = model_from_weights(path)
    sums, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(getattr(module, "bn", None), torch.nn.BatchNorm2d):
            def record(_, __, output, name=name):
                flat = output.transpose(0, 1).flatten(1).double()
                count, total, squares = sums.get(name, (0, 0.0, 0.0))
                sums[name] = (count + flat.shape[1], total + flat.sum(1), squares + (flat * flat).sum(1))
            hooks.append(module.conv.register_forward_hook(record))
    model.eval()
    rng = np.random.default_rng([12345])
    for _ in range(batches):
        model(torch.from_numpy(maker.batch(rng, batch)[0]))
    for hook in hooks:
        hook.remove()
    for name, (count, total, squares) in sums.items():
        bn = model.get_submodule(name).bn
        mean = total / count
        variance = (squares / count - mean * mean).clamp_min(0)
        bn.running_mean.copy_(mean.float())
        bn.running_var.copy_(variance.float())
        bn.weight.copy_(torch.sqrt(variance + bn.eps).float())
        bn.bias.add_(mean.float())  # beta was the folded bias
    return model


class WeightAverage:
    """An exponential moving average of a model's parameters and buffers (BN's running statistics
    included, so the average runs in eval mode as it is). The decay ramps up over the first updates,
    (1 + n) / (10 + n), so an average started from random weights does not keep them for long."""

    def __init__(self, model: torch.nn.Module, decay: float, updates: int = 0):
        self.model = copy.deepcopy(model).eval()
        self.decay, self.updates = decay, updates
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module):
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for average, current in zip(self.model.state_dict().values(), model.state_dict().values()):
            if average.is_floating_point():
                average.lerp_(current, 1 - decay)
            else:  # BN's batch counter
                average.copy_(current)


def learning_rate(step, total, peak, warmup=300):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=SHARED_DATA,
                        help="folder holding eg1800/, ccp/ and camvid/ (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="run folder for checkpoints and the log")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="mnv2-unet", help="design (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fdm", help="decoded-data cache (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=20000, help="total steps of the schedule (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default: %(default)s)")
    parser.add_argument("--size", type=int, default=192, help="training crop side in pixels (default: %(default)s)")
    parser.add_argument("--box-radius", type=int, default=DEFAULT_BOX_RADIUS, help="FB box radius r (default: %(default)s)")
    parser.add_argument("--colour-weight", type=float, default=0.5, help="compositional loss weight (default: %(default)s)")
    parser.add_argument("--edge-weight", type=float, default=0.0,
                        help=f"extra weight of pixels within {EDGE_RADIUS} px of the outline in the losses (default: %(default)s)")
    parser.add_argument("--zoom-bias", type=float, default=1.0,
                        help="multiplies every photo's zoom; below 1 trains on people smaller in pixels, as the network "
                             "sees them at inference (192 px crops: 0.85; 224 px: 0.73) (default: %(default)s)")
    parser.add_argument("--ccp-share", type=float, default=0.0,
                        help="the share of person photos drawn from CCP's full-body photos (default: as many as it has "
                             "among the training photos, 803 of 2,093: 38 %%)")
    parser.add_argument("--ema", type=float, default=0.0,
                        help="keep a moving average of the weights with this decay (e.g. 0.999), validate and "
                             "export it (default: off)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s; leave a core free)")
    parser.add_argument("--validate-every", type=int, default=500, help="steps between validations (default: %(default)s)")
    parser.add_argument("--stop-after-minutes", type=float, default=0,
                        help="write last.pt and stop after this long, to be resumed (default: run to the end)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--init", type=Path,
                        help="start from this model (a fresh schedule): a run's .pt, or a shipped nnlite weights file")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/last.pt, else from OUT/resume.pt (a run's portable checkpoint)")
    args = parser.parse_args(argv)

    for name in ("eg1800", "ccp", "camvid"):
        if not (args.data_root / name).is_dir():
            parser.error(f"{args.data_root / name} is not a folder; pass --data-root with eg1800/, ccp/ and camvid/")
    resume_path = args.out / "last.pt"
    if args.resume and not resume_path.exists():
        resume_path = args.out / "resume.pt"
    if args.resume and not resume_path.exists():
        parser.error(f"--resume: neither {args.out / 'last.pt'} nor {resume_path} exists")
    if args.resume:  # the run's own settings, unless given again on this command line
        stored = torch.load(resume_path, weights_only=True).get("config", {})
        given = set(argv if argv is not None else sys.argv[1:])
        for key, kind in RESUMED_SETTINGS.items():
            if key in stored and f"--{key.replace('_', '-')}" not in given:
                setattr(args, key, kind(stored[key]))
        if stored.get("init") not in (None, "None"):  # provenance: the weights file names where the run began
            args.init = Path(stored["init"])
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    say = run_log(args.out / "train.log", "%Y-%m-%d %H:%M:%S")

    portraits = load_people(args.data_root / "eg1800", "train.txt", args.cache)
    full_body = load_people(args.data_root / "ccp", "train.txt", args.cache)
    person_p = None
    if args.ccp_share:
        if not 0 < args.ccp_share < 1:
            parser.error(f"--ccp-share {args.ccp_share}: must lie between 0 and 1")
        person_p = np.concatenate([np.full(len(portraits), (1 - args.ccp_share) / len(portraits)),
                                   np.full(len(full_body), args.ccp_share / len(full_body))])
    maker = SampleMaker(portraits + full_body, load_streets(args.data_root / "camvid", args.cache), args.size,
                        seed=args.seed, zoom_bias=args.zoom_bias, person_p=person_p)
    validation = {"ccp-val": validation_set(args.data_root / "ccp", "val.txt", args.cache),
                  "eg1800-unlisted": validation_set(args.data_root / "eg1800", "unlisted.txt", args.cache)}

    torch.manual_seed(args.seed)
    model = EncoderDecoderMatting(args.arch, args.box_radius)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step, best = 0, -math.inf
    if args.resume:
        state = torch.load(resume_path, weights_only=True)
        if state["arch"] != model.arch:
            parser.error(f"--resume: {resume_path} holds architecture {state['arch']}, not --arch {args.arch}")
        model.load_state_dict(state["model"])
        step, best = state["step"], state["best"]
        say(f"resumed from {resume_path} at step {step} (best validation IoU {best:.4f})")
        if args.ema and "ema" not in state:
            say("no moving average in the checkpoint: it starts again from the model")
        if "optimiser" in state:
            optimiser.load_state_dict(state["optimiser"])
        else:
            say("no optimiser state in the checkpoint: AdamW's moments start afresh")
        if not (args.out / "best.pt").exists():
            best = -math.inf  # so that this machine gets a best.pt of its own
            say("no best.pt here: the next validation writes one")
    elif args.init:
        if args.init.suffix in (".h5", ".npz"):
            start = model_from_nnlite_weights(args.init, maker, args.batch)
        else:
            state = torch.load(args.init, weights_only=True)
            start = EncoderDecoderMatting(state["arch"], int(state.get("box_radius", args.box_radius)))
            start.load_state_dict(state["model"])
        if start.arch != model.arch:
            blocks_before, scale_before = len(start.segmenter.blocks), start.arch.get("feather_scale", 1)
            try:  # a deeper design grows from a smaller one's weights (convert/encoder_decoder.py)
                start = grow_from(start, model.arch)
            except ValueError as error:
                parser.error(f"--init: {args.init} holds another architecture than --arch {args.arch}: {error}")
            say(f"{args.init} taken into --arch {args.arch}: {len(start.segmenter.blocks) - blocks_before} blocks added "
                f"(each starts as the identity), feathering block at 1/{scale_before} -> "
                f"1/{start.arch.get('feather_scale', 1)} of the input's resolution")
        model = start
        optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    # NHWC: torch's CPU depthwise and 1x1 convs run about a quarter faster on it than on NCHW (measured
    # here on mnv2-unet-deep, batch 16 at 192 px: 0.65 -> 0.49 s a step on one core).
    model = model.to(memory_format=torch.channels_last)
    average = None
    if args.ema:
        # resumed, the decay goes on at full strength (not ramped again from the model it restarts from)
        average = WeightAverage(model, args.ema, updates=step)
        if args.resume and "ema" in state:
            average.model.load_state_dict(state["ema"])
            average.updates = int(state.get("ema_updates", step))
    say(f"config {json.dumps({k: str(v) for k, v in vars(args).items()})}; "
        f"{sum(p.numel() for p in model.parameters())} parameters")

    def save(name, metrics=None):
        """last.pt carries the optimiser and the average (to resume here); best.pt (to export) and
        resume.pt (to resume on another machine: the file to commit while a run is unfinished) one model:
        the average when there is one (a third of last.pt's size; a run resumed from resume.pt goes on
        from its average). Tensors are saved in the default layout, whatever the training used."""
        def plain(network):
            return {k: v.contiguous() for k, v in network.state_dict().items()}
        exported = average.model if average is not None and name != "last.pt" else model
        state = {"model": plain(exported), "step": step, "best": best, "arch": model.arch, "box_radius": args.box_radius,
                 "metrics": metrics or {}, "config": {k: str(v) for k, v in vars(args).items()}}
        if name == "last.pt":
            state["optimiser"] = optimiser.state_dict()
            if average is not None:
                state["ema"], state["ema_updates"] = plain(average.model), average.updates
        torch.save(state, args.out / f"{name}.tmp")
        (args.out / f"{name}.tmp").replace(args.out / name)

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    started, last_save, t0, running = time.time(), time.time(), time.time(), []
    model.train()
    while step < args.steps and not stop["now"]:
        lr = learning_rate(step, args.steps, args.lr)
        for group in optimiser.param_groups:
            group["lr"] = lr
        rng = np.random.default_rng([args.seed, step])
        images, alphas, masks = map(torch.from_numpy, maker.batch(rng, args.batch))
        images = images.contiguous(memory_format=torch.channels_last)
        logits, scores, alpha = model(images)
        loss = training_loss(logits, scores, alpha, alphas, masks, images, args.colour_weight, args.edge_weight)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if average is not None:
            average.update(model)
        step += 1
        running.append(loss.item())
        if step % PROGRESS_STEPS == 0:
            rate = len(running) / (time.time() - t0)
            print(f"step {step}/{args.steps} loss {np.mean(running[-PROGRESS_STEPS:]):.4f} lr {lr:.2e} ({rate:.2f} steps/s)",
                  file=sys.stderr, flush=True)
        if step % args.validate_every == 0 or step == args.steps:
            scored = average.model if average is not None else model
            metrics = {name: evaluate_set(scored, *data) for name, data in validation.items()}
            score = float(np.mean([iou for iou, _ in metrics.values()]))
            live = ""
            if average is not None:  # the model as trained, to see what the average buys
                live = f" (model itself: mean iou {np.mean([evaluate_set(model, *data)[0] for data in validation.values()]):.4f})"
            model.train()
            rate = len(running) / (time.time() - t0)
            say(f"step {step}/{args.steps} loss {np.mean(running):.4f} lr {lr:.2e} "
                + " ".join(f"{name} iou {iou:.4f} mse {mse:.4f}" for name, (iou, mse) in metrics.items())
                + f"{' average' if average is not None else ''} mean {score:.4f}{live}"
                + f" ({rate:.2f} steps/s, eta {(args.steps - step) / rate / 60:.0f} min)")
            running, t0 = [], time.time()
            if score > best:
                best = score
                save("best.pt", metrics)
        if time.time() - last_save > CHECKPOINT_SECONDS:
            save("last.pt")
            last_save = time.time()
        if args.stop_after_minutes and time.time() - started > 60 * args.stop_after_minutes:
            break
    save("last.pt")
    save("resume.pt")
    say("training finished" if step >= args.steps else f"paused at step {step}; continue with --resume")


if __name__ == "__main__":
    main()
