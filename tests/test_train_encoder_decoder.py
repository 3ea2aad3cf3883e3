"""The encoder-decoder's training run (convert/train_encoder_decoder.py) on a tiny synthetic data root:
a run paused and resumed ends exactly where an uninterrupted one does, and its checkpoint exports to
a weights file nnlite runs like torch."""
import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from convert import export, train_encoder_decoder  # noqa: E402
from matting.networks import open_network  # noqa: E402
from conftest import assert_close  # noqa: E402


def _person_photo(rng, height, width):
    """A textured picture with an ellipse 'person' and its soft alpha (0-255)."""
    image = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    alpha = np.zeros((height, width), np.uint8)
    cv2.ellipse(alpha, (width // 2, height * 2 // 3), (width // 4, height // 2), 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(alpha, (5, 5), 0)
    image[alpha > 127] = (image[alpha > 127] // 2 + np.array([90, 60, 140], np.uint8))
    return image, alpha


def _data_root(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for folder, lists in (("eg1800", ("train.txt", "unlisted.txt")), ("ccp", ("train.txt", "val.txt"))):
        for sub in ("images", "alpha"):
            (root / folder / sub).mkdir(parents=True)
        ids = [f"{n:05d}" for n in range(4)]
        for image_id in ids:
            image, alpha = _person_photo(rng, 80, 60)
            cv2.imwrite(str(root / folder / "images" / f"{image_id}.jpg"), image)
            cv2.imwrite(str(root / folder / "alpha" / f"{image_id}.png"), alpha)
        (root / folder / lists[0]).write_text("\n".join(ids[:3]))
        (root / folder / lists[1]).write_text(ids[3])
    for sub in ("images", "people"):
        (root / "camvid" / sub).mkdir(parents=True)
    for n in range(2):
        street, _ = _person_photo(rng, 72, 96)
        cv2.imwrite(str(root / "camvid" / "images" / f"s{n}.jpg"), street)
        cv2.imwrite(str(root / "camvid" / "people" / f"s{n}.png"), np.zeros((72, 96), np.uint8))
    return root


def _train(root, out, *extra):
    train_encoder_decoder.main(["--data-root", str(root), "--out", str(out), "--cache", str(root.parent / "cache"),
                                "--arch", "mnv2-unet", "--steps", "3", "--batch", "2", "--size", "64",
                                "--validate-every", "1", "--seed", "4", *extra])


def test_paused_and_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    root = _data_root(tmp_path)
    _train(root, tmp_path / "straight")
    _train(root, tmp_path / "paused", "--stop-after-minutes", "1e-9")  # stops after its first step
    paused = torch.load(tmp_path / "paused" / "last.pt", weights_only=True)
    assert paused["step"] == 1 and "optimiser" in paused
    _train(root, tmp_path / "paused", "--resume")
    assert "last.pt at step 1 (" in (tmp_path / "paused" / "train.log").read_text()

    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    resumed = torch.load(tmp_path / "paused" / "last.pt", weights_only=True)
    assert straight["step"] == resumed["step"] == 3
    for name, value in straight["model"].items():
        assert value.is_contiguous(), f"{name} saved in a non-default memory layout"
        torch.testing.assert_close(resumed["model"][name], value, rtol=0, atol=1e-6, msg=name)
    assert any(not torch.equal(value, paused["model"][name]) for name, value in straight["model"].items())


def test_checkpoint_exports_to_weights_nnlite_runs_like_torch(tmp_path):
    root = _data_root(tmp_path)
    _train(root, tmp_path / "run")
    weights = tmp_path / "run.h5"
    export.main([str(tmp_path / "run" / "best.pt"), str(weights)])
    network = open_network(str(weights))
    assert json.loads(network.attrs["architecture"])["stages"][0] == [1, 16, 1, 2, 3, 0]
    model = export.model_from_weights(network.weights).eval()
    x = np.random.default_rng(2).random((1, 3, 64, 96), dtype=np.float32)
    with torch.no_grad():
        _, scores, alpha = model(torch.from_numpy(x))
    out = network.forward(x)
    assert_close(out["scores"], scores.numpy(), 1e-4, "scores")
    assert_close(out["alpha"], alpha.clamp(0, 1).numpy(), 1e-4, "alpha")


def test_a_fresh_machine_resumes_from_the_portable_checkpoint_alone(tmp_path):
    root = _data_root(tmp_path)
    _train(root, tmp_path / "here", "--stop-after-minutes", "1e-9")
    portable = torch.load(tmp_path / "here" / "resume.pt", weights_only=True)
    assert portable["step"] == 1 and "optimiser" not in portable
    elsewhere = tmp_path / "elsewhere"  # what a clone holds: resume.pt, no last.pt, no best.pt
    elsewhere.mkdir()
    (tmp_path / "here" / "resume.pt").rename(elsewhere / "resume.pt")
    _train(root, elsewhere, "--resume")
    log = (elsewhere / "train.log").read_text()
    assert "at step 1" in log and "moments start afresh" in log
    assert torch.load(elsewhere / "last.pt", weights_only=True)["step"] == 3 and (elsewhere / "best.pt").exists()


def test_weight_average_is_the_decayed_mean_of_the_models_it_saw():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    average = train_encoder_decoder.WeightAverage(model, decay=0.9)
    expected = {k: v.clone().double() for k, v in model.state_dict().items()}
    for n in range(1, 40):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter))
        model.train()(torch.randn(2, 3, 8, 8))  # moves BN's running statistics
        average.update(model)
        decay = min(0.9, (1 + n) / (10 + n))
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                expected[name] = decay * expected[name] + (1 - decay) * value.double()
            else:
                expected[name] = value.clone()
    for name, value in average.model.state_dict().items():
        torch.testing.assert_close(value.double(), expected[name].double(), rtol=1e-5, atol=1e-5, msg=name)  # float32 sums
    assert not torch.allclose(average.model[0].weight, model[0].weight)
    assert not any(p.requires_grad for p in average.model.parameters())


def test_a_run_with_a_weight_average_validates_saves_and_resumes_it(tmp_path):
    root = _data_root(tmp_path)
    _train(root, tmp_path / "straight", "--ema", "0.5")
    _train(root, tmp_path / "paused", "--ema", "0.5", "--stop-after-minutes", "1e-9")
    _train(root, tmp_path / "paused", "--resume")  # --ema comes back from the checkpoint
    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    resumed = torch.load(tmp_path / "paused" / "last.pt", weights_only=True)
    assert straight["ema_updates"] == resumed["ema_updates"] == 3
    for name, value in straight["ema"].items():
        torch.testing.assert_close(resumed["ema"][name], value, rtol=0, atol=1e-6, msg=name)
    # the portable checkpoint and best.pt hold the average, not the model as trained
    portable = torch.load(tmp_path / "straight" / "resume.pt", weights_only=True)
    weight = "segmenter.stem.conv.weight"
    assert weight in portable["model"]
    torch.testing.assert_close(portable["model"][weight], straight["ema"][weight], rtol=0, atol=0)
    assert not torch.equal(straight["ema"][weight], straight["model"][weight])
    assert "average mean" in (tmp_path / "straight" / "train.log").read_text()
    assert "--ema 0.5" in export.training_command(portable["config"])


def test_edge_band_is_the_mask_dilated_minus_the_mask_eroded():
    """Against the plain torch reference: max pools with the out-of-image pixels left out."""
    import torch.nn.functional as F
    masks = torch.from_numpy((np.random.default_rng(3).random((3, 40, 52)) > 0.97).astype(np.int64))
    masks[0] = 0
    masks[0, 10:30, 5:60] = 1  # a block cut by the right edge
    masks[1] = 1  # all person: no outline inside the image
    m = masks[:, None].float()
    reference = F.max_pool2d(m, 7, stride=1, padding=3) + F.max_pool2d(-m, 7, stride=1, padding=3)
    band = train_encoder_decoder.edge_band(masks, 3)
    assert band.shape == (3, 1, 40, 52) and band.dtype == torch.float32
    torch.testing.assert_close(band, reference, rtol=0, atol=0)
    assert band[1].sum() == 0 and 0 < band[0].mean() < 1


@pytest.mark.parametrize("channels", [1, 3])
def test_box_mean_on_channels_last_tensors_is_the_border_normalised_average(channels):
    import torch.nn.functional as F
    from convert.model import box_mean
    x = torch.rand(2, channels, 11, 14, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    reference = F.avg_pool2d(x.contiguous(), 5, stride=1, padding=2, count_include_pad=False)
    mean = box_mean(x, 2)
    torch.testing.assert_close(mean, reference, rtol=0, atol=1e-12)
    weights = torch.rand_like(reference)
    (grad,) = torch.autograd.grad((mean * weights).sum(), x)
    (reference_grad,) = torch.autograd.grad((reference * weights).sum(), x)
    torch.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-12)


def test_ccp_share_is_checked_kept_and_named_in_the_training_command(tmp_path):
    root = _data_root(tmp_path)
    with pytest.raises(SystemExit):
        _train(root, tmp_path / "bad", "--ccp-share", "1.5")
    _train(root, tmp_path / "run", "--ccp-share", "0.6")
    config = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["config"]
    assert "--ccp-share 0.6" in export.training_command(config)


def test_a_run_resumed_from_its_portable_checkpoint_averages_at_full_decay(tmp_path):
    root = _data_root(tmp_path)
    _train(root, tmp_path / "here", "--ema", "0.999", "--stop-after-minutes", "1e-9")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "here" / "resume.pt").rename(elsewhere / "resume.pt")
    _train(root, elsewhere, "--resume")
    state = torch.load(elsewhere / "last.pt", weights_only=True)
    assert state["ema_updates"] == state["step"] == 3  # counted from the step, so the decay is not ramped again
    assert "starts again from the model" in (elsewhere / "train.log").read_text()
