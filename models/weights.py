"""Checked weight loading: every key and every shape, or a clear error.

Exports :func:`load_checked` and :class:`WeightsError`.

``strict=False`` loads hide misspelled keys; this module never uses them. A state dict is
copied into a module only when its key set and every tensor shape match exactly (keys ending
in ``ignore_suffixes`` are left out of the comparison and keep the module's own values, e.g.
BatchNorm's ``num_batches_tracked`` counters).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

__all__ = ["WeightsError", "load_checked"]


class WeightsError(RuntimeError):
    """The weights on disk do not fit the network they are loaded into."""


def load_checked(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    source: str,
    ignore_suffixes: Iterable[str] = ("num_batches_tracked",),
) -> None:
    """Copy ``state_dict`` into ``module`` after checking every key and shape.

    Raises :class:`WeightsError` naming ``source`` and listing (up to five of) the missing,
    unexpected and mis-shaped keys.
    """
    ignore = tuple(ignore_suffixes)
    given = {k: v for k, v in state_dict.items() if not k.endswith(ignore)}
    expected = {k: v for k, v in module.state_dict().items() if not k.endswith(ignore)}
    missing = sorted(expected.keys() - given.keys())
    unexpected = sorted(given.keys() - expected.keys())
    misshaped = sorted(
        f"{k}: {tuple(given[k].shape)} != {tuple(expected[k].shape)}"
        for k in expected.keys() & given.keys()
        if given[k].shape != expected[k].shape
    )
    problems = [
        f"{label} ({len(keys)}): {', '.join(keys[:5])}{' …' if len(keys) > 5 else ''}"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshaped))
        if keys
    ]
    if problems:
        raise WeightsError(f"{source}: weights do not fit {type(module).__name__}: " + "; ".join(problems))
    own_counters = {k: v for k, v in module.state_dict().items() if k.endswith(ignore)}
    module.load_state_dict({**own_counters, **given}, strict=True)
