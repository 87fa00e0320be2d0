"""The ONNX runtime of any network: export a torch module to ONNX, open an export in onnxruntime.

Exports :data:`OPSET`, :func:`export_graph`, :func:`choose_providers` and :class:`OnnxSession`.

Knows no network: each network's file (``models/lite_encoder.py``, ``models/vjepa2_encoder.py``)
says what it exports and how it feeds the session; :mod:`models.registry` joins the two.
Exported graphs take a float32 batch with a dynamic batch axis (opset :data:`OPSET`) and carry
``jepa_stream.network`` and the network's own values in their metadata, so the runtime needs no
checkpoint. The session uses the CUDA execution provider when onnxruntime offers it and a GPU
is visible (``encoder.device`` ``auto`` or ``cuda``), the CPU provider otherwise; ``provider``
says which. Graphs run in float32 (``encoder.dtype`` applies to torch only).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from models.encoders import Device, EncoderConfig

__all__ = ["OPSET", "NETWORK_KEY", "export_graph", "choose_providers", "OnnxSession"]

OPSET = 18
NETWORK_KEY = "jepa_stream.network"  # metadata: the registered name of the exported network
log = logging.getLogger(__name__)


def export_graph(module, example, path: str | Path, input_name: str, output_name: str, meta: dict) -> Path:
    """Export ``module`` (a torch module, traced on ``example``) to ``path`` with ``meta`` in its
    metadata. The file appears under its name only when complete, also when several processes
    export at once."""
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python-side shape arithmetic
            torch.onnx.export(
                module.eval(),
                (example,),
                str(tmp),
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        # Metadata only: tensors a >2 GB export left in external files beside it stay there, untouched.
        model = onnx.load(str(tmp), load_external_data=False)
        for key, value in meta.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
        onnx.save(model, str(tmp))
        os.replace(tmp, path)  # a crashed export never leaves a half-written file under the real name
    finally:
        tmp.unlink(missing_ok=True)
    return path


def choose_providers(device: Device) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device is Device.CPU:
        return ["CPUExecutionProvider"]
    gpu = "CUDAExecutionProvider" in available and _torch_sees_cuda()
    if device is Device.CUDA and not gpu:
        raise ValueError("encoder.device is cuda but onnxruntime has no usable CUDA execution provider")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if gpu else ["CPUExecutionProvider"]


def _torch_sees_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


class OnnxSession:
    """An exported graph in onnxruntime: ``run(batch) -> output``; ``provider`` is the execution
    provider in use, ``meta`` the export's metadata, ``network`` the network it holds."""

    def __init__(self, path: str | Path, config: EncoderConfig = EncoderConfig()):
        import onnxruntime as ort

        self.path = Path(path)
        options = ort.SessionOptions()
        if config.threads:
            options.intra_op_num_threads = config.threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), options, providers=choose_providers(config.device))
        self.provider = self.session.get_providers()[0]
        self.meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.network = self.meta.get(NETWORK_KEY)
        if not self.network:
            raise ValueError(f"{self.path}: not an encoder exported by jepa-stream (no {NETWORK_KEY} metadata)")
        self.input_name = self.session.get_inputs()[0].name
        log.info("onnx encoder %s runs on %s", self.path, self.provider)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]
