"""The one bounded hand-over: each overflow policy keeps what it says, and stopping ends the thread."""

import threading

import pytest

from streamer.worker import BoundedQueue, BoundedWorker, OverflowPolicy
from testlimits import TIMEOUT_S


@pytest.mark.parametrize(("policy", "kept"), [(OverflowPolicy.DROP_OLDEST, [3, 4]), (OverflowPolicy.DROP_NEWEST, [0, 1])])
def test_a_full_queue_keeps_what_its_policy_names_and_counts_the_rest(policy, kept):
    q = BoundedQueue(2, policy)
    for i in range(5):
        q.put(i)
    assert [q.get(0), q.get(0), q.get(0)] == [*kept, None] and q.dropped == 3


def test_drop_oldest_hands_what_a_displaced_item_carries_to_the_item_that_displaced_it():
    def carry(displaced: str, item: str) -> str:  # a "!" mark moves on to the displacing item
        return item + "!" if displaced.endswith("!") else item

    q = BoundedQueue(2, OverflowPolicy.DROP_OLDEST, carry=carry)
    for item in ["a!", "b", "c", "d"]:  # c displaces the marked a!, then d displaces b
        q.put(item)
    assert [q.get(0), q.get(0), q.get(0)] == ["c!", "d", None] and q.dropped == 2


def test_wait_gives_up_only_when_abandoned_and_counts_nothing():
    q = BoundedQueue(1, OverflowPolicy.WAIT)
    assert q.put("a")
    abandon = threading.Event()
    threading.Timer(0.2, abandon.set).start()
    assert q.put("b", abandon=abandon) is False and q.dropped == 0 and q.get(0) == "a"


def test_a_worker_handles_in_order_survives_a_failing_item_and_stop_without_drain_counts_the_rest():
    gate, seen = threading.Event(), []

    def handle(item):
        gate.wait(TIMEOUT_S)
        if item == 1:
            raise RuntimeError("boom")
        seen.append(item)

    worker = BoundedWorker(handle, max_queue=8, policy=OverflowPolicy.WAIT, name="test-worker")
    worker.start()
    for i in range(4):
        assert worker.submit(i)
    gate.set()
    worker.stop(drain=True, timeout=TIMEOUT_S)
    assert seen == [0, 2, 3] and not worker.is_alive()

    stuck = threading.Event()
    worker = BoundedWorker(lambda item: stuck.wait(TIMEOUT_S), max_queue=8, policy=OverflowPolicy.WAIT, name="test-worker")
    for i in range(3):
        worker.submit(i)
    worker.start()
    threading.Timer(0.2, stuck.set).start()
    worker.stop(drain=False, timeout=TIMEOUT_S)
    assert worker.dropped >= 2 and not worker.is_alive()
