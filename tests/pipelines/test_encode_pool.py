"""The encode pool splits a batch over threads and gives back exactly what one call gives."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pipelines.encode_pool import EncodePool


@pytest.fixture(scope="module")
def frames(photos):
    import cv2

    return [cv2.resize(photo if photo.ndim == 3 else np.dstack([photo] * 3), (320, 180))
            for photo in list(photos.values()) * 2]  # 8 frames


@pytest.mark.parametrize("workers", [2, 3])
def test_split_batches_give_the_features_of_one_call_bit_for_bit(lite_models, frames, workers):
    pool = EncodePool(lite_models.encode_frames, workers)
    try:
        whole = lite_models.encode_frames(frames)
        assert np.array_equal(pool(frames), whole)
        assert np.array_equal(pool(frames[:5]), whole[:5])
    finally:
        pool.close()


def test_chunks_run_on_several_threads_in_order_and_small_batches_stay_whole():
    calls = []

    def encode(images):
        calls.append((threading.current_thread().name, [int(i[0, 0, 0]) for i in images]))
        return np.array([[float(i[0, 0, 0])] for i in images])

    images = [np.full((2, 2, 3), k, np.uint8) for k in range(7)]
    pool = EncodePool(encode, workers=2, min_chunk=2)
    try:
        assert pool(images).ravel().tolist() == list(range(7))
        assert sorted(chunk for _, chunk in calls) == [[0, 1, 2], [3, 4, 5, 6]]
        assert len({name for name, _ in calls}) == 2  # the caller's thread and one pool thread
        calls.clear()
        assert pool(images[:3]).ravel().tolist() == [0, 1, 2]  # 3 frames: not two chunks of 2
        assert calls == [(threading.current_thread().name, [0, 1, 2])]
    finally:
        pool.close()


def test_one_worker_is_the_plain_call_on_the_callers_thread():
    names = []
    pool = EncodePool(lambda images: names.append(threading.current_thread().name) or np.zeros((len(images), 1)), workers=1)
    try:
        assert pool([np.zeros((1, 1, 3))] * 8).shape == (8, 1)
        assert names == [threading.current_thread().name]
    finally:
        pool.close()
