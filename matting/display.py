"""The live window of `--camera`: OpenCV's own window when its build has one, else a Tk window.

The package depends on OpenCV's headless build (servers, phones and CI have no display, and the two
OpenCV wheels cannot live in one environment: both install the same `cv2`). Tk comes with Python
on Windows and macOS and as one system package on Linux (python3-tk), so a desktop gets a window
without a second OpenCV. Pictures go to Tk as binary PPM, which Tk 8.6 reads natively: no Pillow.
"""
from __future__ import annotations

import numpy as np

from matting.api import InputError

TITLE = "matting"


class WindowUnavailable(InputError):
    """No way to open a window here (no display, or neither OpenCV's GUI nor Tk)."""


class OpenCVWindow:
    backend = "opencv"

    def __init__(self):
        import cv2

        cv2.namedWindow(TITLE, cv2.WINDOW_NORMAL)  # raises cv2.error on a headless build
        self.closed = False

    def show(self, picture: np.ndarray, status: str) -> None:
        import cv2

        cv2.imshow(TITLE, picture)
        cv2.setWindowTitle(TITLE, f"{TITLE} - {status}")
        if cv2.waitKey(1) & 0xFF in (27, ord("q")):
            self.closed = True

    def close(self):
        import cv2

        cv2.destroyAllWindows()


class TkWindow:
    backend = "tk"

    def __init__(self):
        import tkinter

        self.root = tkinter.Tk()  # raises TclError without a display
        self.root.title(TITLE)
        self.label = tkinter.Label(self.root)
        self.label.pack()
        self.closed = False
        self.root.protocol("WM_DELETE_WINDOW", self._close_request)
        self.root.bind("<Escape>", lambda event: self._close_request())
        self.root.bind("q", lambda event: self._close_request())
        self.photo = None

    def _close_request(self):
        self.closed = True

    def show(self, picture: np.ndarray, status: str) -> None:
        import tkinter

        rgb = np.ascontiguousarray(picture[..., ::-1]) if picture.ndim == 3 else np.repeat(picture[..., None], 3, axis=2)
        header = f"P6 {rgb.shape[1]} {rgb.shape[0]} 255 ".encode()
        self.photo = tkinter.PhotoImage(data=header + rgb.tobytes(), format="PPM")
        self.label.configure(image=self.photo)
        self.root.title(f"{TITLE} - {status}")
        self.root.update()

    def close(self):
        try:
            self.root.destroy()
        except Exception:  # noqa: BLE001 - the user may have closed it already
            pass


def open_window():
    """A window for live pictures, or WindowUnavailable saying what to do."""
    import cv2

    try:
        return OpenCVWindow()
    except cv2.error:
        pass
    try:
        import tkinter
    except ImportError:
        raise WindowUnavailable("no window: this OpenCV build is headless and Python has no Tk; install Tk "
                                "(Debian/Ubuntu: sudo apt install python3-tk) or use --no-display -o out.mp4") from None
    try:
        return TkWindow()
    except tkinter.TclError as exc:
        raise WindowUnavailable(f"no window: cannot reach a display ({str(exc).splitlines()[0]}); "
                                f"run it on a desktop, or use --no-display -o out.mp4") from None
