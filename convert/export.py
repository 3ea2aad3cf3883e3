"""Torch checkpoint -> nnlite weights file (HDF5, plus its .npz twin), BatchNorm folded, provenance recorded.

    python -m convert.export runs/fdm128/stage3-best.pt matting/weights/fdm-128.h5
    python -m convert.export --upgrade old.h5 old.npz     # a format-version-1 file, rewritten in place

The checkpoint is read with torch.load(weights_only=True): a checkpoint cannot run code here.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch

import torch.nn as nn

from convert.encoder_decoder import MODEL_NAME as ENCODER_DECODER_NAME
from convert.encoder_decoder import EncoderDecoderMatting
from convert.model import (DILATIONS, FEATHER_HIDDEN, GROWTH, INITIAL_CONV_CHANNELS, INPUT_MEAN, INPUT_STD,
                           FastDeepMatting)
from nnlite.ops.batch_norm import fold_batch_norm
from nnlite.weights import FORMAT_VERSION, save_weights, twin_path

MODEL_NAME = "fast-deep-matting"


def model_tensors(model: FastDeepMatting) -> dict:
    """nnlite tensors for a torch model in eval mode: every conv + BN pair folded into one conv."""
    tensors = {}

    def conv_bn(name, block):
        bn = block.bn
        w, b = fold_batch_norm(block.conv.weight.detach().numpy(), None, bn.running_mean.numpy(),
                               bn.running_var.numpy(), bn.weight.detach().numpy(), bn.bias.detach().numpy(), bn.eps)
        tensors[f"{name}/weight"], tensors[f"{name}/bias"] = w, b

    def conv(name, module):
        tensors[f"{name}/weight"] = module.weight.detach().numpy().astype(np.float32)
        tensors[f"{name}/bias"] = module.bias.detach().numpy().astype(np.float32)

    conv_bn("ldn.initial", model.ldn.initial)
    for k, layer in enumerate(model.ldn.dense):
        conv_bn(f"ldn.dense.{k}", layer)
    conv("ldn.final", model.ldn.final)
    conv_bn("feather.hidden", model.feather.hidden)
    conv("feather.coeffs", model.feather.coeffs)
    return tensors


def model_attrs(model: FastDeepMatting, inference_size: int, provenance: dict) -> dict:
    return {
        "model": MODEL_NAME,
        "dilations": list(DILATIONS), "growth": model.ldn.growth, "initial_channels": INITIAL_CONV_CHANNELS,
        "feather_hidden": FEATHER_HIDDEN, "box_radius": model.feather.box_radius,
        "input_mean": list(INPUT_MEAN), "input_std": list(INPUT_STD), "input_channel_order": "RGB",
        "inference_size": inference_size,
        **provenance,
    }


def export(model: FastDeepMatting, path, inference_size=128, provenance=None) -> None:
    """Writes the HDF5 file and, beside it, its .npz twin for machines without h5py."""
    model.eval()
    tensors, attrs = model_tensors(model), model_attrs(model, inference_size, provenance or {})
    save_weights(path, tensors, attrs)
    save_weights(twin_path(path), tensors, attrs)


def folded_tensors(model: nn.Module) -> dict:
    """nnlite tensors of any model built from conv + BN pairs (modules with .conv and .bn; depthwise
    and pointwise alike) and bare convs with a bias: each pair folded into one conv."""
    tensors, paired = {}, set()
    for name, module in model.named_modules():
        if isinstance(getattr(module, "conv", None), nn.Conv2d) and isinstance(getattr(module, "bn", None), nn.BatchNorm2d):
            bn = module.bn
            w, b = fold_batch_norm(module.conv.weight.detach().numpy(), None, bn.running_mean.numpy(), bn.running_var.numpy(),
                                   bn.weight.detach().numpy(), bn.bias.detach().numpy(), bn.eps)
            tensors[f"{name}/weight"], tensors[f"{name}/bias"] = w, b
            paired.add(f"{name}.conv")
        elif isinstance(module, nn.Conv2d) and name not in paired:
            tensors[f"{name}/weight"] = module.weight.detach().numpy().astype(np.float32)
            tensors[f"{name}/bias"] = module.bias.detach().numpy().astype(np.float32)
    return tensors


def load_folded(model: nn.Module, tensors: dict) -> nn.Module:
    """The inverse of folded_tensors: the folded weights into a torch model, BN set to the identity."""
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(getattr(module, "conv", None), nn.Conv2d) and isinstance(getattr(module, "bn", None), nn.BatchNorm2d):
                module.conv.weight.copy_(torch.from_numpy(tensors[f"{name}/weight"]))
                module.bn.weight.fill_(1.0)
                module.bn.bias.copy_(torch.from_numpy(tensors[f"{name}/bias"]))
                module.bn.running_mean.zero_()
                module.bn.running_var.fill_(1.0 - module.bn.eps)
            elif isinstance(module, nn.Conv2d) and f"{name}/bias" in tensors and module.bias is not None:
                module.weight.copy_(torch.from_numpy(tensors[f"{name}/weight"]))
                module.bias.copy_(torch.from_numpy(tensors[f"{name}/bias"]))
    return model.eval()


def encoder_decoder_attrs(model: EncoderDecoderMatting, inference_size: int, provenance: dict) -> dict:
    return {
        "model": ENCODER_DECODER_NAME, "architecture": model.architecture_json,
        "feather_hidden": FEATHER_HIDDEN, "box_radius": model.feather.box_radius,
        "input_mean": list(INPUT_MEAN), "input_std": list(INPUT_STD), "input_channel_order": "RGB",
        "inference_size": inference_size, "size_multiple": 32,
        **provenance,
    }


def export_encoder_decoder(model: EncoderDecoderMatting, path, inference_size=256, provenance=None) -> None:
    model.eval()
    tensors, attrs = folded_tensors(model), encoder_decoder_attrs(model, inference_size, provenance or {})
    save_weights(path, tensors, attrs)
    save_weights(twin_path(path), tensors, attrs)


def model_from_weights(weights):
    """The torch reference model (either family, by the file's `model` attribute) holding an nnlite
    file's (BN-folded) tensors, BN set to the identity."""
    from nnlite.weights import Weights, load_weights

    weights = weights if isinstance(weights, Weights) else load_weights(weights)
    if weights.attrs["model"] == ENCODER_DECODER_NAME:
        import json

        model = EncoderDecoderMatting(json.loads(weights.attrs["architecture"]), int(weights.attrs["box_radius"]))
        return load_folded(model, weights.tensors)
    return fdm_from_weights(weights)


def fdm_from_weights(weights) -> FastDeepMatting:
    """A torch reference model holding an nnlite file's (BN-folded) tensors, BN set to the identity.

    Used by the parity tests and bench/compare_torch.py: both engines then run the very same numbers.
    """
    from nnlite.weights import Weights, load_weights

    weights = weights if isinstance(weights, Weights) else load_weights(weights)
    tensors = weights.tensors
    model = FastDeepMatting(int(weights.attrs["box_radius"]), int(weights.attrs["growth"]))
    with torch.no_grad():
        for name in ["ldn.initial", *[f"ldn.dense.{k}" for k in range(len(DILATIONS))], "feather.hidden"]:
            block = model.get_submodule(name)
            block.conv.weight.copy_(torch.from_numpy(tensors[f"{name}/weight"]))
            block.bn.weight.fill_(1.0)
            block.bn.bias.copy_(torch.from_numpy(tensors[f"{name}/bias"]))
            block.bn.running_mean.zero_()
            block.bn.running_var.fill_(1.0 - block.bn.eps)
        for name in ["ldn.final", "feather.coeffs"]:
            model.get_submodule(name).weight.copy_(torch.from_numpy(tensors[f"{name}/weight"]))
            model.get_submodule(name).bias.copy_(torch.from_numpy(tensors[f"{name}/bias"]))
    return model.eval()


def upgrade(path: Path) -> None:
    """Rewrites an older-format weights file in the current format, in place (atomically). Version 1 had no
    checksum, so the tensors are taken as they are: upgrade only files you trust."""
    from nnlite.weights import load_weights

    weights = load_weights(path, versions=(1, 2))
    save_weights(path, weights.tensors, weights.attrs)
    load_weights(path)
    print(f"upgraded {path} to format version {FORMAT_VERSION}", file=sys.stderr)


def training_command(config: dict) -> str:
    """The command line of an encoder-decoder training run, from its checkpoint's settings."""
    return "python -m convert.train_encoder_decoder " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in config.items()
        if k in ("arch", "steps", "lr", "batch", "size", "seed", "init", "edge_weight", "zoom_bias", "ema", "ccp_share")
        and v not in ("None", None, "0.0") and not (k == "zoom_bias" and v == "1.0"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, nargs="?", help="checkpoint written by python -m convert.train")
    parser.add_argument("output", type=Path, nargs="?", help="nnlite weights file to write (.h5)")
    parser.add_argument("--inference-size", type=int,
                        help="default long side at inference (default: 128 for fdm, 256 for the encoder-decoder)")
    parser.add_argument("--upgrade", type=Path, nargs="+", metavar="FILE",
                        help="rewrite older-format nnlite weights files (.h5 / .npz) in the current format, in place")
    args = parser.parse_args(argv)
    if args.upgrade:
        from nnlite.errors import NnliteError

        try:
            for path in args.upgrade:
                upgrade(path)
        except NnliteError as exc:
            parser.exit(1, f"error: {exc}\n")
        return
    if args.checkpoint is None or args.output is None:
        parser.error("give a CHECKPOINT and an OUTPUT file, or --upgrade FILE")
    state = torch.load(args.checkpoint, weights_only=True)
    config = state.get("config", {})
    if "arch" in state:  # a checkpoint of python -m convert.train_encoder_decoder
        model = EncoderDecoderMatting(state["arch"], int(state.get("box_radius", 2)))
        model.load_state_dict(state["model"])
        provenance = {
            "source_checkpoint": args.checkpoint.name,
            "source_checkpoint_sha256": hashlib.sha256(args.checkpoint.read_bytes()).hexdigest(),
            "training_data": "EG1800 train.txt + CCP train.txt, composited on CamVid and rendered scenes; "
                             "validated on CCP val.txt and EG1800 unlisted.txt",
            "training_command": training_command(config),
            "training_step": int(state.get("step", 0)),
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "torch_version": torch.__version__,
        }
        if "averaged_from" in state:  # convert/average.py: the mean of several runs' weights
            provenance["training_command"] = "the mean of the weights of: " + "; ".join(
                f"{training_command(source['config'])} (step {source['step']})" for source in state["averaged_from"])
        export_encoder_decoder(model, args.output, args.inference_size or 256, provenance)
        for path in (args.output, twin_path(args.output)):
            print(f"wrote {path} ({path.stat().st_size // 1024} KB)", file=sys.stderr)
        return
    model = FastDeepMatting(int(state.get("box_radius", 2)), int(state.get("growth", GROWTH)))
    model.load_state_dict(state["model"])
    provenance = {
        "source_checkpoint": args.checkpoint.name,
        "source_checkpoint_sha256": hashlib.sha256(args.checkpoint.read_bytes()).hexdigest(),
        "training_data": "EG1800 train.txt (1,290 portraits), validated on unlisted.txt",
        "training_command": "python -m convert.train " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in config.items()
                                                                 if k in ("steps", "lr", "batch", "box_radius", "colour_weight", "ce_weight", "seed",
                                                                          "alpha_loss", "scales", "max_angle", "init", "start_stage", "growth")),
        "training_stage": int(state.get("stage", 0)), "training_step": int(state.get("step", 0)),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch_version": torch.__version__,
    }
    export(model, args.output, args.inference_size or 128, provenance)
    for path in (args.output, twin_path(args.output)):
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)", file=sys.stderr)


if __name__ == "__main__":
    main()
