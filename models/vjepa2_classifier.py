"""The V-JEPA 2 classifier head: a checkpoint's attentive probe over the backbone's tokens → class logits, and its class names.

Exports :data:`DEFAULT_VJEPA2_CLASSIFIER`, :func:`is_classifier`, :func:`class_phrase`,
:func:`class_names` and :class:`VJEPA2ClassHead`.

V-JEPA 2 ships attentive-probe classifiers (``facebook/vjepa2-vitl-fpc16-256-ssv2``: the 174
Something-Something-v2 actions, such as "Pushing something from left to right"). Such a
checkpoint is one ``VJEPA2ForVideoClassification``: the backbone ``.vjepa2`` (a ``VJEPA2Model``,
which :mod:`models.vjepa2_encoder` runs for the tokens), then ``.pooler`` (self-attention
layers over all tokens, then one learned query cross-attending to them) and ``.classifier``
(linear). The head runs the last two on the tokens the encoder has already computed, so the
backbone runs once per clip. It takes any number of tokens (the newest tubelets of a clip, for
a caption): the probe attends over what it is given, though it was trained on whole clips.
The probe costs ``num_pooler_layers`` transformer layers over the tokens, a fraction of the
backbone's ``num_hidden_layers``.

Class names are the checkpoint config's ``id2label``, shown as written. The prompt phrase
lower-cases a name, drops the square brackets of SSv2 templates ("[something]") and gives a name
that starts with a verb ("Pushing …") a subject, so that it reads in the template
``a video of {}.``: "a video of someone pushing something from left to right."
"""

from __future__ import annotations

import re

import numpy as np

from models.text_bank import ClassNames

__all__ = ["DEFAULT_VJEPA2_CLASSIFIER", "is_classifier", "class_phrase", "class_names", "VJEPA2ClassHead"]

DEFAULT_VJEPA2_CLASSIFIER = "facebook/vjepa2-vitl-fpc16-256-ssv2"
VIDEO_PROMPT = "a video of {}."
_PLACEHOLDERS = ("something", "nothing", "anything", "everything")  # end in -ing, but are not verbs


def is_classifier(config) -> bool:
    """Whether a ``VJEPA2Config`` describes a checkpoint with a classifier head."""
    return "VJEPA2ForVideoClassification" in (getattr(config, "architectures", None) or ())


def class_phrase(name: str) -> str:
    """A class name as it reads after "a video of": "Pushing [something] left" → "someone pushing something left"."""
    text = " ".join(name.replace("[", "").replace("]", "").split())
    if not text:
        return name
    text = text[0].lower() + text[1:]
    first = text.split(" ", 1)[0]
    if re.fullmatch(r"[a-z]+ing", first) and first not in _PLACEHOLDERS:
        text = "someone " + text
    return text


def class_names(config) -> ClassNames:
    """The classes of a classifier config, in the order of its logits."""
    id2label = {int(k): str(v) for k, v in config.id2label.items()}
    if sorted(id2label) != list(range(config.num_labels)):
        raise ValueError(f"its id2label does not name classes 0..{config.num_labels - 1}")
    labels = tuple(id2label[i] for i in range(config.num_labels))
    return ClassNames(labels, tuple(class_phrase(n) for n in labels), VIDEO_PROMPT)


class VJEPA2ClassHead:
    """``class_logits(tokens (N, hidden)) -> (1, C)`` through a ``VJEPA2ForVideoClassification``'s
    pooler and classifier, on ``device`` (under ``autocast``, a CUDA dtype, when given);
    ``classes``: its :class:`~models.text_bank.ClassNames`."""

    def __init__(self, model, device: str = "cpu", autocast=None):
        self.pooler = model.pooler.eval().to(device)
        self.classifier = model.classifier.eval().to(device)
        self.classes = class_names(model.config)
        self.device, self.autocast = device, autocast

    def class_logits(self, tokens: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.float32)).to(self.device)[None]  # (1, N, hidden)
            if self.autocast is not None:
                with torch.autocast("cuda", dtype=self.autocast):
                    logits = self.classifier(self.pooler(x))  # (1, hidden) → (1, C)
            else:
                logits = self.classifier(self.pooler(x))  # (1, hidden) → (1, C)
            return logits.float().cpu().numpy()
