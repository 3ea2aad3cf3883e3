"""The nnlite network against the torch reference on the same weights (random BN statistics)."""
import numpy as np
import pytest
from conftest import assert_close

from matting.model import MattingNetwork

torch = pytest.importorskip("torch")
from convert.export import export  # noqa: E402
from convert.model import FastDeepMatting  # noqa: E402

TOL = 1e-4


@pytest.fixture(scope="module", params=[16, 24], ids=lambda g: f"growth{g}")
def random_pair(tmp_path_factory, request):
    """The paper's width and a wider one: the growth is read from the file, not assumed."""
    torch.manual_seed(7)
    model = FastDeepMatting(box_radius=3, growth=request.param)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    torch.nn.init.normal_(model.feather.coeffs.weight, std=0.3)  # the trained-from-zero init would hide bugs
    model.eval()
    path = tmp_path_factory.mktemp("w") / "random.h5"
    export(model, path)
    return model, MattingNetwork(str(path))


@pytest.mark.parametrize("shape", [(1, 3, 64, 48), (2, 3, 30, 22), (1, 3, 2, 2)], ids=lambda s: "x".join(map(str, s)))
def test_random_weights_parity(random_pair, shape):
    model, network = random_pair
    x = np.random.default_rng(3).random(shape, dtype=np.float32)
    with torch.no_grad():
        _, scores, alpha = model(torch.from_numpy(x))
    out = network.forward(x)
    assert_close(out["scores"], scores.numpy(), TOL, "scores")
    assert_close(out["alpha"], alpha.clamp(0, 1).numpy(), TOL, "alpha")
