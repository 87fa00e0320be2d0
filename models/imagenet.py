"""ImageNet's per-channel statistics, which every ImageNet-trained network here normalises with.

Exports :data:`IMAGENET_MEAN` and :data:`IMAGENET_STD` (RGB, for pixels scaled to [0, 1]).
"""

import numpy as np

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
