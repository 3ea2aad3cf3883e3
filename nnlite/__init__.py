"""nnlite: a small NumPy + Numba inference engine (float32, NCHW). Never imports torch, cv2 or matting."""
from nnlite._jit import USE_NUMBA, get_num_threads, kernels_on, set_num_threads, use_kernels
from nnlite.errors import NnliteError, ShapeError, WeightsError

__version__ = "0.1.0"
__all__ = ["USE_NUMBA", "NnliteError", "ShapeError", "WeightsError", "get_num_threads", "kernels_on", "set_num_threads",
           "use_kernels"]
