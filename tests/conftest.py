import importlib.util
import os

import numpy as np
import pytest

TORCH_MISSING = importlib.util.find_spec("torch") is None
# the command line compiles nnlite's kernels in the foreground here, as the tests expect, instead
# of starting a background compile on a cold cache (matting/warmup.py; tests/test_warmup.py tests it)
os.environ.setdefault("FDM_KERNELS", "now")


def pytest_configure(config):
    # the CI's parity step sets this: there a missing torch must fail the run, not skip the parity tests
    if os.environ.get("FDM_REQUIRE_TORCH") == "1" and TORCH_MISSING:
        raise pytest.UsageError("FDM_REQUIRE_TORCH=1 but torch is not installed: pip install \".[convert]\" first")


def pytest_terminal_summary(terminalreporter):
    if TORCH_MISSING:
        skipped = terminalreporter.stats.get("skipped", [])
        parity = sum(1 for r in skipped if "torch" in str(getattr(r, "longrepr", "")))
        if parity:
            terminalreporter.write_line(f"{parity} parity tests against torch skipped: torch is not installed "
                                        f"(README, 'Parity with torch', runs them)")


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
