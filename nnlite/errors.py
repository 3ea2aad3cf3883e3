"""One exception family: every error nnlite raises on purpose is an NnliteError with a one-line message."""


class NnliteError(Exception):
    """Base of all nnlite errors; the message is one line that says what is wrong and what to do."""


class ShapeError(NnliteError, ValueError):
    """An array has the wrong rank, shape or dtype for an op."""


class WeightsError(NnliteError):
    """A weights file cannot be used: not HDF5/npz, wrong format or version, bad tensor."""
