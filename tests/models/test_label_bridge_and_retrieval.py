"""The label bridge lands in the text space next to what the frames show; retrieval reads it back."""

import numpy as np
import pytest

from models.label_bridge import LabelBridge
from models.predictor_config import PredictorConfig
from models.retrieval import RetrievalConfig, RetrievalDecoder
from models.text_bank import TextBank


def unit_rows(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


def test_bridge_is_the_probability_weighted_class_text():
    class_text = unit_rows(np.eye(4, 8) + 0.1)
    logits = np.log(np.array([[0.7, 0.2, 0.05, 0.05]], np.float32))
    bridge = LabelBridge(lambda t: np.repeat(logits, len(t), 0), class_text, top_k=0)
    y = bridge(np.zeros((3, 5), np.float32))
    expected = np.array([0.7, 0.2, 0.05, 0.05]) @ class_text
    np.testing.assert_allclose(y, expected / np.linalg.norm(expected), atol=1e-5)


def test_top_k_keeps_only_the_strongest_classes():
    class_text = unit_rows(np.eye(4))
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], np.float32))
    bridge = LabelBridge(lambda t: logits, class_text, top_k=2)
    y = bridge(np.zeros((1, 5), np.float32))
    assert y[2] == 0 and y[3] == 0 and y[0] > y[1] > 0


def test_clip_probabilities_average_the_frames():
    frames = np.log(np.array([[0.9, 0.1], [0.1, 0.9]], np.float32))
    bridge = LabelBridge(lambda t: t, unit_rows(np.eye(2)), top_k=0)
    np.testing.assert_allclose(bridge.class_probabilities(frames), [0.5, 0.5], atol=1e-6)


@pytest.mark.parametrize("bad", [dict(top_k=-1), dict(temperature=0.0), dict(prompt="no slot")])
def test_bad_bridge_settings_are_refused(bad):
    with pytest.raises(ValueError):
        PredictorConfig(**bad)


def test_retrieval_returns_the_nearest_texts_best_first_without_repeats():
    bank = TextBank(("cat", "crane", "crane", "dog"), unit_rows(np.array([[1, 0, 0], [0, 1, 0], [0, 0.9, 0.1], [0.5, 0.5, 0]], np.float32)))
    caption = RetrievalDecoder(RetrievalConfig(top_k=4), bank).decode(unit_rows(np.array([[0.1, 1.0, 0.0]]))[0])
    assert caption.text == "crane"
    assert [t for t, _ in caption.labels] == ["crane", "dog", "cat"]
    scores = [s for _, s in caption.labels]
    assert scores == sorted(scores, reverse=True)


def test_real_stack_captions_photos_with_what_they_show(lite_models, photos):
    def caption(name):
        tokens = lite_models.encode_frames([photos[name]])
        return lite_models.decoder.decode(lite_models.predict(tokens))

    assert "cat" in " ".join(t for t, _ in caption("chelsea").labels[:3])
    assert caption("coffee").text in {"espresso", "cup", "coffee mug"}
    y = lite_models.predict(lite_models.encode_frames([photos["rocket"]]))
    assert y.shape == (384,) and abs(np.linalg.norm(y) - 1) < 1e-5
