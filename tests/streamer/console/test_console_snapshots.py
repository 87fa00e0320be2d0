"""Caption snapshots: written by their own thread, bounded by age, size and count, read back safely."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from streamer.capture.frames import Frame
from streamer.console.console_config import SnapshotConfig
from streamer.console.snapshots import SnapshotStore

DAY = 86_400.0


def frames(photo: np.ndarray, n: int = 4, source: str = "cam0") -> tuple[Frame, ...]:
    return tuple(Frame(source, i, i * 0.25, time.time(), photo) for i in range(n))


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_a_snapshot_is_named_before_it_is_written_and_read_back_as_jpeg(tmp_path, photos):
    store = SnapshotStore(SnapshotConfig(max_side=200), tmp_path / "snaps", max_age_s=None)
    wall = time.time()
    reference = store.submit("cam0", wall, frames(photos["chelsea"]))
    assert reference == f"/snapshots/cam0/{round(wall * 1e6)}.jpg"
    assert store.read(reference) is None  # the writer has not run yet: a 404 the page shows as a placeholder
    store.start()
    store.stop()
    image = decode(store.read(reference))
    assert max(image.shape[:2]) == 200 and image.shape[1] > image.shape[0]  # chelsea is landscape
    # The photo's colours survive (RGB in, JPEG out): chelsea is an orange cat, red above blue.
    b, g, r = image.reshape(-1, 3).mean(axis=0)
    assert r > b
    assert store.files == 1 and store.bytes == len(store.read(reference))
    assert store.submit("cam0", wall, ()) is None  # nothing to show


def test_a_strip_holds_several_frames_side_by_side(tmp_path, photos):
    store = SnapshotStore(SnapshotConfig(frames=3, max_side=600), tmp_path, max_age_s=None)
    reference = store.submit("cam0", time.time(), frames(photos["coffee"], n=5))
    store.start()
    store.stop()
    h, w = decode(store.read(reference)).shape[:2]
    ph, pw = photos["coffee"].shape[:2]
    assert w == 600 and abs(w / h - 3 * pw / ph) < 0.05


@pytest.mark.parametrize("path", ["/snapshots/../events.sqlite", "/snapshots/cam0/../../x/1.jpg", "/snapshots/.x/1.jpg",
                                  "/snapshots/cam0/1.jpg/../1.jpg", "/snapshots/cam0/abc.jpg", "/snapshots/cam0/1.png",
                                  "/snapshots/cam0%2F..%2F/1.jpg", "/snapshots//1.jpg"])
def test_only_snapshot_paths_are_read(tmp_path, path):
    (tmp_path / "events.sqlite").write_text("secret")
    (tmp_path / "snaps" / "x").mkdir(parents=True)
    (tmp_path / "snaps" / "x" / "1.jpg").write_text("not this either")
    store = SnapshotStore(SnapshotConfig(), tmp_path / "snaps", max_age_s=None)
    assert store.read(path) is None


@pytest.mark.parametrize("bound", ["age", "bytes", "files"])
def test_a_month_of_a_busy_source_stays_inside_every_bound(tmp_path, photos, bound):
    small = photos["rocket"][::16, ::16]  # (32, 38, 3): fast to encode, a few hundred bytes each
    max_bytes, max_files = {"age": (None, None), "bytes": (200_000, None), "files": (None, 500)}[bound]
    config = SnapshotConfig(max_side=64, queue=1024, retention_max_bytes=max_bytes, retention_max_files=max_files)
    store = SnapshotStore(config, tmp_path / "snaps", max_age_s=7 * DAY)
    store.start()
    now = time.time()
    every_s = 300.0  # a caption every five minutes for 30 days: 8640 snapshots
    total = int(30 * DAY / every_s)
    for i in range(total):
        while store.submit("cam0", now - 30 * DAY + (i + 1) * every_s, frames(small, n=1)) is None:
            time.sleep(0.001)  # the writer is a queue behind: a test may wait, the pipeline never does
    store.stop()
    on_disk = sorted((tmp_path / "snaps" / "cam0").iterdir())
    assert store.files == len(on_disk) and store.bytes == sum(p.stat().st_size for p in on_disk)
    assert store.removed == total - len(on_disk)
    assert int(on_disk[-1].stem) / 1e6 == pytest.approx(now, abs=1)  # the newest survive
    oldest = int(on_disk[0].stem) / 1e6
    assert oldest >= now - 7 * DAY - every_s  # never older than the event log keeps its captions
    if bound == "age":
        assert oldest <= now - 7 * DAY + 2 * every_s and len(on_disk) == pytest.approx(7 * DAY / every_s, abs=2)
    if bound == "bytes":
        assert 190_000 < store.bytes <= 200_000
    if bound == "files":
        assert len(on_disk) == 500


def test_a_full_queue_skips_the_snapshot_instead_of_waiting(tmp_path, photos):
    store = SnapshotStore(SnapshotConfig(queue=1), tmp_path, max_age_s=None)  # writer not started: nothing drains
    assert store.submit("cam0", 1.0, frames(photos["camera"])) is not None
    # Nothing drains the queue, so a submit that waited would never return.
    assert store.submit("cam0", 2.0, frames(photos["camera"])) is None
    assert store.skipped == 1
    store.start()
    store.stop()
    assert store.written == 1


def test_a_restart_keeps_the_snapshots_and_their_bounds_and_drops_half_written_files(tmp_path, photos):
    folder = tmp_path / "snaps"
    store = SnapshotStore(SnapshotConfig(), folder, max_age_s=None)
    first = store.submit("cam0", 1_700_000_000.0, frames(photos["camera"]))
    store.start()
    store.stop()
    (folder / "cam0" / "1700000001000000.tmp").write_bytes(b"half")
    again = SnapshotStore(SnapshotConfig(retention_max_files=1), folder, max_age_s=None)
    assert again.files == 1 and again.read(first) is not None
    assert not list(folder.glob("cam0/*.tmp"))
    # The same caption time again (a clock step back) still gets a name of its own.
    second = again.submit("cam0", 1_700_000_000.0, frames(photos["camera"]))
    assert second != first
    again.start()
    again.stop()
    assert again.read(first) is None and again.read(second) is not None  # one file at most: the older went


def test_a_folder_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"snapshots .*file/snaps: cannot create the folder"):
        SnapshotStore(SnapshotConfig(), tmp_path / "file" / "snaps", max_age_s=None)


def test_the_config_names_a_bad_key():
    from pipelines.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"feed\.snapshots\.quality: must be an integer within 1\.\.100, got 0"):
        load_config(overrides={"feed": {"snapshots": {"quality": 0}}})
    with pytest.raises(ConfigError, match=r"feed\.console\.max_captions"):
        load_config(overrides={"feed": {"console": {"max_captions": 0}}})
    assert SnapshotConfig().folder("~/state/events.sqlite").name == "snapshots"
