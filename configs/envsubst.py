"""``${NAME}`` in a config file's strings: values taken from the environment, never shown.

Exports :class:`EnvString` and :func:`substitute`.

Every string value of a user's config file (not the keys, not the packaged defaults) may name
environment variables: ``url: rtsp://admin:${CAM1_PASSWORD}@10.0.0.5/stream1``. ``$${`` writes a
literal ``${``. A variable that is not set is a :class:`~configs.loader.ConfigError` naming the
key and the variable, not its value. A string that took something from the environment comes
back as an :class:`EnvString`, which the loader never echoes in an error, so a secret set this
way stays out of ``ps`` (it is not on a command line) and out of error messages. It carries
its ``masked`` form (each substituted part as ``***``, what a message may show) and the
``(name, value)`` of each substitution (:func:`substituted` lists them for a whole tree), so
the program can hide every such value wherever else it shows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from configs.loader import ConfigError

__all__ = ["EnvString", "substitute", "substituted"]

# "$${" (an escaped "${"), or "${" and what follows up to the next "}" (checked to be a name).
_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EnvString(str):
    """A config string with a part taken from the environment: a secret until shown otherwise."""

    from_environment = True  # what configs.loader looks for before echoing a value
    masked: str = ""  # the string with each substituted part as "***"
    parts: tuple[tuple[str, str], ...] = ()  # (variable name, value) of each substitution


def _expand(text: str, env: Mapping[str, str], where: str) -> str:
    parts: list[tuple[str, str]] = []
    masked: list[str] = []
    last = 0

    def replace(match: re.Match) -> str:
        nonlocal last
        masked.append(text[last:match.start()])
        last = match.end()
        if match.group(0) == "$${":
            masked.append("${")
            return "${"
        name = match.group(1)
        if not match.group(0).endswith("}") or not _NAME.fullmatch(name):
            raise ConfigError(f"{where}: bad variable reference at '${{{name[:20]}' "
                              "(write ${NAME} with a letter or '_' then letters, digits or '_'; $${ for a literal ${)")
        if name not in env:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        parts.append((name, env[name]))
        masked.append("***")
        return env[name]

    out = _TOKEN.sub(replace, text)
    if not parts:
        return out
    shown = EnvString(out)
    shown.masked, shown.parts = "".join(masked) + text[last:], tuple(parts)
    return shown


def substituted(data: Any) -> list[tuple[str, str]]:
    """The ``(name, value)`` of every substitution in ``data`` (a tree that :func:`substitute` made)."""
    if isinstance(data, EnvString):
        return list(data.parts)
    if isinstance(data, Mapping):
        return [p for v in data.values() for p in substituted(v)]
    if isinstance(data, list):
        return [p for v in data for p in substituted(v)]
    return []


def substitute(data: Any, env: Mapping[str, str], where: str = "") -> Any:
    """``data`` (parsed YAML) with ``${NAME}`` replaced in every string value; ``where`` is the
    key path of ``data`` for error messages (``sources[0].url``)."""
    if isinstance(data, str):
        return _expand(data, env, where) if "${" in data else data
    if isinstance(data, Mapping):
        return {k: substitute(v, env, f"{where}.{k}" if where else str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [substitute(v, env, f"{where}[{i}]") for i, v in enumerate(data)]
    return data
