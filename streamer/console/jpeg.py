"""One function: RGB frames as a JPEG, scaled down first.

Exports :func:`encode_jpeg`. Used by the snapshot writer (its own thread) and the newest-frame
route (on request); never by the pipeline's loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["encode_jpeg"]


def encode_jpeg(images: Sequence[np.ndarray], max_side: int, quality: int) -> bytes:
    """``images`` (RGB ``uint8`` ``(H, W, 3)``, the same height) side by side, scaled so the strip's
    longer side is at most ``max_side`` pixels, as JPEG of ``quality`` (1..100)."""
    strip = images[0] if len(images) == 1 else np.concatenate(list(images), axis=1)  # (H, n*W, 3)
    h, w = strip.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        strip = cv2.resize(strip, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode a {strip.shape} frame as JPEG")
    return data.tobytes()
