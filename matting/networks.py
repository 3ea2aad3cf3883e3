"""The network families, chosen by a weights file's `model` attribute."""
from __future__ import annotations

from matting.encoder_decoder import MODEL_NAME as ENCODER_DECODER
from matting.encoder_decoder import EncoderDecoderNetwork
from matting.model import MODEL_NAME as FAST_DEEP_MATTING
from matting.model import MattingNetwork
from nnlite.weights import Weights, load_weights

FAMILIES = {FAST_DEEP_MATTING: MattingNetwork, ENCODER_DECODER: EncoderDecoderNetwork}


def open_network(weights):
    """The nnlite network of a weights file (path or loaded Weights), of whichever family it names."""
    weights = weights if isinstance(weights, Weights) else load_weights(str(weights))
    weights.require_attrs(("model",))
    family = FAMILIES.get(weights.attrs["model"])
    if family is None:
        raise weights.fail(f"model {weights.attrs['model']!r} is not one of {', '.join(sorted(FAMILIES))}",
                           "use a weights file written by python -m convert.export")
    return family(weights)
