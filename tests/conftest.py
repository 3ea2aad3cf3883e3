import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def assert_close(got, want, tol, what=""):
    """Max-abs comparison that names the worst element when it fails."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    worst = np.unravel_index(np.argmax(diff), diff.shape) if diff.size else ()
    assert np.all(np.isfinite(got)), f"{what}: non-finite values"
    assert diff.max(initial=0) <= tol, f"{what}: max abs diff {diff.max():.3g} at {worst} > {tol}"
