"""Build frozen dataclasses from YAML mappings, checking every key, type and range.

Exports :class:`ConfigError`, :func:`build`, :func:`check_range` and :func:`invalid`.

The one place where configuration text becomes typed values, used by every section's dataclass
wherever it lives (``streamer/``, ``models/``, ``pipelines/``). Errors are one line naming the
full key: ``capture.buffer_size: expected int, got float 2.5``. NaN and infinite numbers are
refused everywhere. A dataclass may name keys of earlier versions in a ``RENAMED`` mapping
(old key → its replacement), and the error for one says where it went. A dataclass checks its own
ranges in ``__post_init__`` with :func:`check_range` (and :func:`invalid` for a rule between
fields), whose :class:`ValueError` always reads ``key: problem (got value)``; a message that
starts with a field name is reported at that field's full key
(``model.encoder.threads: must be 0 (one per core) or an integer within 1..256 (got 1000000)``). A field declared with
``repr=False`` (a secret, such as the feed token) never has its value in a message, nor does a
string taken from the environment (:class:`configs.envsubst.EnvString`, a ``str`` subclass
recognised here by its marker attribute, so this module imports nothing back).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any

from configs.errors import UserError

__all__ = ["ConfigError", "build", "check_range", "invalid"]


class ConfigError(UserError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


def _number(x: float) -> str:
    """``x`` short but exact enough for a bound: ``0.1``, ``3600``, ``315360000``."""
    return f"{x:.0f}" if abs(x) >= 1e6 and float(x).is_integer() else f"{x:g}"


def invalid(name: str, problem: str, value: Any) -> ValueError:
    """The error of field ``name`` in the one shape of every config: ``name: problem (got value)``."""
    return ValueError(f"{name}: {problem} (got {value!r})")


def check_range(name: str, value: Any, low: float, high: float, *, above: bool = False, below: bool = False,
                zero: str | None = None, null: bool = False, context: str = "") -> None:
    """Refuse ``value`` of field ``name`` unless it is a finite number within ``low``..``high``.

    An integer is required when ``low`` and ``high`` are both ints (a bool is never a number).
    ``above``/``below``: that bound itself is refused (``(0, 60]``). ``zero``: 0 is accepted too,
    meaning this (``"off"``). ``null``: None is accepted too. ``context`` follows the range in
    the message (``" for the cosine statistic"``). Raises :func:`invalid`'s ValueError, e.g.
    ``threads: must be 0 (one per core) or an integer within 1..256 (got 1000000)``.
    """
    if (value is None and null) or (zero is not None and value == 0 and not isinstance(value, bool)):
        return
    integral = isinstance(low, int) and isinstance(high, int)
    number = isinstance(value, int if integral else (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and (low < value if above else low <= value) and (value < high if below else value <= high):
        return
    if integral:
        span = f"an integer within {low}..{high}"
    else:
        span = f"a number within {'(' if above else '['}{_number(low)}, {_number(high)}{')' if below else ']'}"
    either = f"0 ({zero}) or " if zero is not None else ""
    raise invalid(name, f"must be {either}{span}{context}{' or null' if null else ''}", value)


def _shown(value: Any) -> str:
    """``value`` for an error message: its type and repr, unless it came from the environment."""
    if getattr(value, "from_environment", False):
        return "str (from the environment: not shown)"
    return f"{type(value).__name__} {value!r}"


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        (tp,) = [t for t in options if t is not type(None)]
        origin = typing.get_origin(tp)
    if hasattr(tp, "from_mapping"):  # a section with its own layout (e.g. per-source overrides)
        return value if isinstance(value, tp) else tp.from_mapping(value if value is not None else {}, where)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in tp)
            shown = "the value from the environment" if getattr(value, "from_environment", False) else repr(value)
            raise ConfigError(f"{where}: {shown} is not one of: {allowed}") from None
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"{where}: must be a finite number, got {value}")
        return float(value)
    if tp in (int, str, bool) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {_shown(value)}")


def build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from ``data`` (a mapping), naming ``where`` in every error."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    renamed = getattr(cls, "RENAMED", {})  # old key → where it went, for the error message
    for key in data:
        if key in renamed and key not in known:
            raise ConfigError(f"{where}.{key}: no longer a key: use {renamed[key]}")
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
    secret = {f.name for f in dataclasses.fields(cls) if not f.repr}  # e.g. a token: never echoed
    kwargs = {}
    for k, v in data.items():
        try:
            kwargs[k] = _convert(hints[k], v, f"{where}.{k}")
        except ConfigError:
            if k not in secret:
                raise
            raise ConfigError(f"{where}.{k}: wrong type {type(v).__name__} (the value is secret: not shown)") from None
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        message = str(exc)
        at_field = message.split(":", 1)[0].split(".", 1)[0] in known  # "encoder.network: …" is at model.encoder.network
        raise ConfigError(f"{where}.{message}" if at_field else f"{where}: {message}") from None
