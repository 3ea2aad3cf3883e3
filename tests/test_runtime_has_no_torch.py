import subprocess
import sys

import pytest


@pytest.mark.parametrize("modules,forbidden", [
    ("nnlite, nnlite.graph, nnlite.weights, nnlite.ops", ("torch", "cv2", "matting")),
    ("matting.model", ("torch",)),
], ids=["nnlite", "matting"])
def test_runtime_imports_leave_torch_out(modules, forbidden):
    code = (f"import sys, {modules}\n"
            f"leaked = [m for m in {forbidden!r} if m in sys.modules]\n"
            "assert not leaked, leaked\n")
    subprocess.run([sys.executable, "-c", code], check=True)
