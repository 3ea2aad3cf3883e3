"""The encoder-decoder network: nnlite against its torch twin on the same (BN-folded) weights, for
both designs, at odd sizes; the weights file's checks; buffer sharing changes nothing."""
import json

import numpy as np
import pytest
from conftest import assert_close

from matting.encoder_decoder import EncoderDecoderNetwork
from matting.networks import open_network
from nnlite import WeightsError
from nnlite.weights import load_weights, save_weights

torch = pytest.importorskip("torch")

from convert.encoder_decoder import ARCHITECTURES, EncoderDecoderMatting, grow_from  # noqa: E402
from convert.export import export_encoder_decoder, model_from_weights  # noqa: E402

SIZES = [(64, 96), (70, 50), (33, 17), (128, 96)]


def random_model(arch: str, seed: int = 0) -> EncoderDecoderMatting:
    """Random weights and BatchNorm statistics (so that folding is exercised), a non-identity FB."""
    torch.manual_seed(seed)
    model = EncoderDecoderMatting(arch)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
        model.feather.coeffs.weight.normal_(0, 0.1)
    return model.eval()


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def exported(request, tmp_path_factory):
    model = random_model(request.param)
    path = tmp_path_factory.mktemp("ed") / f"{request.param}.h5"
    export_encoder_decoder(model, path)
    return model, path


def test_nnlite_matches_torch(exported):
    model, path = exported
    network = open_network(path)
    assert isinstance(network, EncoderDecoderNetwork)
    rng = np.random.default_rng(0)
    for h, w in SIZES:
        x = rng.random((1, 3, h, w), dtype=np.float32)
        with torch.no_grad():
            _, scores, alpha = model(torch.from_numpy(x))
        out = network.forward(x)
        assert_close(out["scores"], scores.numpy(), 1e-5, f"scores {h}x{w}")
        assert_close(out["alpha"], alpha.clamp(0, 1).numpy(), 1e-5, f"alpha {h}x{w}")


def test_folded_torch_twin_matches_the_trained_form(exported):
    model, path = exported
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert (model_from_weights(path)(x)[2] - model(x)[2]).abs().max().item() < 1e-5


def test_shared_buffers_change_nothing(exported):
    _, path = exported
    shared, separate = EncoderDecoderNetwork(path), EncoderDecoderNetwork(path)
    separate.graph.keep = None  # every buffer its own array
    x = np.random.default_rng(1).random((2, 3, 96, 64), dtype=np.float32)
    for _ in range(2):  # the second call runs on buffers the first left behind
        a, b = shared.forward(x)["alpha"].copy(), separate.forward(x)["alpha"]
        np.testing.assert_array_equal(a, b)
    arrays = shared.graph.buffers_for(2, 96, 64)
    assert len({id(a) for a in arrays.values()}) < len(arrays)


def test_bad_architecture_and_tensors_are_refused(exported, tmp_path):
    _, path = exported
    weights = load_weights(path)
    broken = dict(weights.attrs, architecture=json.dumps({"stem": 16}))
    save_weights(tmp_path / "arch.h5", weights.tensors, broken)
    with pytest.raises(WeightsError, match="architecture"):
        open_network(tmp_path / "arch.h5")
    tensors = dict(weights.tensors)
    tensors.pop("segmenter.head/bias")
    save_weights(tmp_path / "missing.h5", tensors, weights.attrs)
    with pytest.raises(WeightsError, match="segmenter.head/bias"):
        open_network(tmp_path / "missing.h5")
    save_weights(tmp_path / "model.h5", weights.tensors, dict(weights.attrs, model="something-else"))
    with pytest.raises(WeightsError, match="something-else"):
        open_network(tmp_path / "model.h5")


# (smaller, deeper, index of a block the deeper one adds)
GROWTHS = [("mnv2-unet", "mnv2-unet-deep", 6),  # 1 + 2 + 3 blocks kept, then the added 1/16 stage
           ("mnv2-unet-deep-fb2", "mnv2-unet-deeper-fb2", 8)]  # 1 + 2 + 3 + 2 kept, then two more at 1/16


@pytest.mark.parametrize("smaller, deeper, added_index", GROWTHS, ids=lambda v: str(v))
def test_a_deeper_design_grows_from_a_smaller_one_unchanged(smaller, deeper, added_index):
    """grow_from keeps the function (the added blocks start as the identity) and learns from there:
    the added blocks' weights get gradients at once, so the new capacity is not dead."""
    small = random_model(smaller, seed=3)
    grown = grow_from(small, deeper).eval()
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        assert (grown(x)[2] - small(x)[2]).abs().max().item() < 1e-6
    assert sum(p.numel() for p in grown.parameters()) > 1.2 * sum(p.numel() for p in small.parameters())
    kept = {k for k in small.state_dict() if not k.startswith("segmenter.blocks.")}
    assert all(torch.equal(small.state_dict()[k], grown.state_dict()[k]) for k in kept)
    added = grown.segmenter.blocks[added_index]
    assert torch.count_nonzero(added.project.bn.weight) == 0
    grown.train()
    _, scores, alpha = grown(x)
    alpha.mean().backward()
    assert added.project.bn.weight.grad.abs().sum() > 0


def test_growth_refuses_a_design_that_drops_a_stage():
    with pytest.raises(ValueError, match="cannot grow"):
        grow_from(random_model("mnv2-unet-deep"), "mnv2-unet")
    with pytest.raises(ValueError, match="cannot grow"):
        grow_from(random_model("mnv2-unet"), "mnv3-lraspp")


def test_architecture_settings_of_a_later_version_are_refused(tmp_path):
    """A file whose design has a part this version does not build must not run without it."""
    path = tmp_path / "deep.h5"
    export_encoder_decoder(random_model("mnv2-unet-deep"), path)
    weights = load_weights(path)
    arch = json.loads(weights.attrs["architecture"])
    for extra, match in (({"attention": 1}, "does not know .*attention"), ({"feather_scale": 3}, "feather_scale 3")):
        save_weights(tmp_path / "later.h5", weights.tensors, dict(weights.attrs, architecture=json.dumps({**arch, **extra})))
        with pytest.raises(WeightsError, match=match):
            open_network(tmp_path / "later.h5")


def test_the_half_resolution_feathering_block_takes_the_full_one_s_weights():
    """mnv2-unet-deep-fb2 starts from mnv2-unet-deep weights: the same tensors, the same scores, and an
    alpha that differs only by running the feathering block on the image averaged 2x2."""
    full = random_model("mnv2-unet-deep", seed=5)
    half = grow_from(full, "mnv2-unet-deep-fb2").eval()
    assert half.arch["feather_scale"] == 2 and full.state_dict().keys() == half.state_dict().keys()
    assert all(torch.equal(v, half.state_dict()[k]) for k, v in full.state_dict().items())
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        (_, scores_full, alpha_full), (_, scores_half, alpha_half) = full(x), half(x)
    assert torch.equal(scores_full, scores_half)
    assert 0 < (alpha_full - alpha_half).abs().mean().item() < 0.05
    with torch.no_grad():  # the FB as the identity on S_F (its untrained start) gives S_F at either scale
        for model in (full, half):
            model.feather.coeffs.weight.zero_()
            model.feather.coeffs.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))
        assert (full(x)[2] - half(x)[2]).abs().max().item() < 1e-6


def test_averaged_checkpoints_hold_the_mean_and_name_their_sources(tmp_path):
    """convert.average: each float tensor the mean of the runs' (BN statistics included), one design
    only; convert.export records every source's command and step in the weights file."""
    from convert.average import average_checkpoints
    from convert.average import main as average_main
    from convert.export import main as export_main

    runs = []
    for seed, size in ((1, 224), (2, 192)):
        model = random_model("mnv2-unet-deeper-fb2", seed=seed)
        config = {"arch": "mnv2-unet-deeper-fb2", "steps": "9000", "size": str(size), "seed": str(seed)}
        runs.append({"model": model.state_dict(), "arch": model.arch, "box_radius": 2, "step": 100 * seed, "config": config})
        torch.save(runs[-1], tmp_path / f"run{seed}.pt")
    averaged = average_checkpoints(runs)
    for name, value in averaged["model"].items():
        a, b = runs[0]["model"][name], runs[1]["model"][name]
        if value.is_floating_point():
            assert torch.allclose(value, (a + b) / 2, atol=1e-6), name
        else:
            assert torch.equal(value, a), name
    assert not torch.equal(averaged["model"]["segmenter.stem.conv.weight"], runs[0]["model"]["segmenter.stem.conv.weight"])
    with pytest.raises(ValueError, match="different architectures"):
        average_checkpoints([runs[0], {**runs[1], "arch": ARCHITECTURES["mnv2-unet-deep-fb2"],
                                       "model": random_model("mnv2-unet-deep-fb2").state_dict()}])
    average_main([str(tmp_path / "run1.pt"), str(tmp_path / "run2.pt"), "-o", str(tmp_path / "soup.pt")])
    export_main([str(tmp_path / "soup.pt"), str(tmp_path / "soup.h5")])
    command = load_weights(tmp_path / "soup.h5").attrs["training_command"]
    assert command.startswith("the mean of the weights of: ")
    assert "--size 224 --seed 1 (step 100)" in command and "--size 192 --seed 2 (step 200)" in command
    # a mean joined by a third run counts as its two runs: the result is the plain mean of all three
    third = {"model": random_model("mnv2-unet-deeper-fb2", seed=3).state_dict(), "arch": runs[0]["arch"], "box_radius": 2,
             "step": 300, "config": {"seed": "3"}}
    joined = average_checkpoints([averaged, third])
    for name, value in joined["model"].items():
        if value.is_floating_point():
            want = (runs[0]["model"][name] + runs[1]["model"][name] + third["model"][name]) / 3
            assert torch.allclose(value, want, atol=1e-6), name
    assert [source["step"] for source in joined["averaged_from"]] == [100, 200, 300]
    network, reference = open_network(tmp_path / "soup.h5"), EncoderDecoderMatting(averaged["arch"]).eval()
    reference.load_state_dict(averaged["model"])
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    with torch.no_grad():
        want = reference(torch.from_numpy(x))[2].clamp(0, 1).numpy()
    assert_close(network.forward(x)["alpha"], want, 1e-4)
