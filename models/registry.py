"""The encoder registry: every X-encoder network by name, and the one place that builds one.

Exports :func:`register`, :func:`network`, :func:`names`, :func:`build_encoder`,
:func:`open_onnx`, :func:`export_onnx` and :func:`onnx_cache_path`.

A network is one file that declares a :class:`~models.encoders.NetworkSpec` (its name, its
classes, how it is exported) and one :func:`register` line below. Nothing else in the tree
switches on a network's name. ONNX is a runtime of any network that can be exported
(``encoder.runtime: onnx``), not a network of its own; ``runtime: auto`` takes what the
network's spec prefers and, when that is ONNX and onnxruntime is missing or the export fails,
says so in one log line and runs torch.
"""

from __future__ import annotations

import importlib.util

import hashlib
import json
import logging
from pathlib import Path

from models import lite_encoder, vjepa2_encoder
from models.cache import cache_root
from models.encoders import ClipEncoder, EncoderConfig, NetworkSpec, Runtime

__all__ = ["register", "network", "names", "build_encoder", "open_onnx", "export_onnx", "onnx_cache_path"]

log = logging.getLogger(__name__)
_NETWORKS: dict[str, NetworkSpec] = {}


def register(spec: NetworkSpec) -> NetworkSpec:
    """Make ``spec`` available as ``encoder.network: <spec.name>``; a name is registered once."""
    if spec.name in _NETWORKS and _NETWORKS[spec.name] is not spec:
        raise ValueError(f"network {spec.name!r} is already registered")
    _NETWORKS[spec.name] = spec
    return spec


register(lite_encoder.NETWORK)
register(vjepa2_encoder.NETWORK)


def names() -> list[str]:
    return sorted(_NETWORKS)


def network(name: str) -> NetworkSpec:
    """The spec registered as ``name``; a :class:`ValueError` naming the registered ones otherwise."""
    try:
        return _NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r} (available: {', '.join(names())})") from None


def onnx_cache_path(config: EncoderConfig) -> Path:
    """Where ``config``'s network is exported on first use:
    ``$XDG_CACHE_HOME/jepa-stream/onnx/<network>-<key>.onnx`` (``~/.cache`` without XDG_CACHE_HOME)."""
    from models.onnx_runtime import OPSET

    spec = network(config.network)
    root = cache_root() / "onnx"
    ident = {"network": spec.name, **spec.export_key(config), "opset": OPSET}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return root / f"{spec.name}-{key}.onnx"


def export_onnx(config: EncoderConfig, path: str | Path | None = None) -> Path:
    """Export ``config``'s network as it describes it, to ``path`` or the cache."""
    spec = network(config.network)
    if spec.export is None:
        raise ValueError(f"network {spec.name} cannot be exported to ONNX")
    return spec.export(config, Path(path) if path else onnx_cache_path(config))


def open_onnx(path: str | Path, config: EncoderConfig = EncoderConfig(), expect: str | None = None) -> ClipEncoder:
    """An encoder exported by jepa-stream, run by onnxruntime; its network is read from the file's
    metadata (and must be ``expect`` when given)."""
    from models.onnx_runtime import OnnxSession

    session = OnnxSession(path, config)
    spec = network(session.network)
    if expect is not None and spec.name != expect:
        raise ValueError(f"{path} holds the {spec.name} network, not {expect} (set encoder.network: {spec.name})")
    if spec.onnx is None:
        raise ValueError(f"{path}: network {spec.name} has no ONNX runtime")
    return spec.onnx(session, config)


def _onnx_encoder(config: EncoderConfig) -> ClipEncoder:
    """The file ``config.model`` names, or the cached export of the network (exported now if missing)."""
    spec = network(config.network)
    if config.model.endswith(".onnx"):
        path = Path(config.model)
        if not path.is_file():
            raise FileNotFoundError(f"encoder.model {path}: no such ONNX file (create it with `jepa-stream export-onnx`)")
        return open_onnx(path, config, expect=spec.name)
    if spec.onnx is None:
        raise ValueError(f"network {spec.name} has no ONNX runtime (use runtime torch)")
    path = onnx_cache_path(config)
    if not path.is_file():
        log.info("exporting the %s encoder to %s (first use)", spec.name, path)
        export_onnx(config, path)
    return open_onnx(path, config, expect=spec.name)


def build_encoder(config: EncoderConfig) -> ClipEncoder:
    """The encoder of ``config.network`` in ``config.runtime``. With ``runtime: auto`` and a spec
    that prefers ONNX, a missing onnxruntime or a failed export is one warning and torch."""
    spec = network(config.network)
    runtime = config.runtime
    if config.model.endswith(".onnx"):
        runtime = Runtime.ONNX  # an exported file runs in onnxruntime, whatever was asked
    if runtime is Runtime.TORCH:
        return spec.torch(config)
    if runtime is Runtime.ONNX:
        return _onnx_encoder(config)
    if spec.auto_runtime is Runtime.TORCH or spec.onnx is None:
        return spec.torch(config)
    if importlib.util.find_spec("onnxruntime") is None:
        log.warning("onnxruntime is not installed: the %s encoder runs in torch", spec.name)
        return spec.torch(config)
    try:
        return _onnx_encoder(config)
    except Exception as exc:  # noqa: BLE001 - any failure to export or open falls back to the exact torch path
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("the %s encoder runs in torch: its ONNX export failed (%s)", spec.name, first)
        return spec.torch(config)
