"""Shared fixtures: real videos made from real photos, and the packaged models loaded once.

Every test runs offline. Text embeddings and the ONNX export of the lite network (which
``runtime: auto`` makes on first use) are cached in a per-session folder (set through
``XDG_CACHE_HOME``, which subprocesses inherit), so the first test pays for them once.

No test touches the user's files: ``HOME`` points at a temporary folder for the whole session
(subprocesses inherit it), so the default event log and snapshots of a ``run`` without a config
land there; and the session fails if the real home's jepa-stream state or cache changed while it ran.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest


#: The home the suite was started from; no test may write under it.
REAL_HOME = Path.home()
#: Where jepa-stream keeps files in a home by default (the event log, snapshots, caches).
_REAL_HOME_STATE = (REAL_HOME / ".local" / "state" / "jepa-stream", REAL_HOME / ".cache" / "jepa-stream")


def _listing(folders) -> dict[str, tuple[int, int]]:
    """Every file under ``folders`` with its size and modification time (ns)."""
    found = {}
    for folder in folders:
        for path in folder.rglob("*") if folder.is_dir() else ():
            with contextlib.suppress(OSError):  # a file removed while listing is a change too, seen below
                stat = path.stat()
                found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory: pytest.TempPathFactory):
    """A temporary home and cache folder for the whole session; fails it if the real home's files changed."""
    before = _listing(_REAL_HOME_STATE)
    home = tmp_path_factory.mktemp("home")
    os.environ["HOME"] = str(home)
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield home
    os.environ["HOME"] = str(REAL_HOME)
    changed = sorted(set(before.items()) ^ set(_listing(_REAL_HOME_STATE).items()))
    assert not changed, f"tests wrote under the real home: {sorted({path for path, _ in changed})}"


@pytest.fixture(scope="session")
def photos() -> dict:
    skimage_data = pytest.importorskip("skimage.data")
    return {name: getattr(skimage_data, name)() for name in ("chelsea", "coffee", "rocket", "camera")}


@pytest.fixture(scope="session")
def scene_video(tmp_path_factory: pytest.TempPathFactory, photos: dict) -> tuple[Path, dict]:
    """A 30 s, 640×360, 25 fps video of five shots with camera motion; returns (path, truth)."""
    from videokit import Shot, write_video

    shots = [
        Shot(photos["chelsea"], 6.0, zoom=(1.0, 0.6), pan=0.8, shake_px=2.0),
        Shot(photos["coffee"], 6.0, zoom=(0.7, 1.0), pan=-0.8, noise=3.0),
        Shot(photos["rocket"], 6.0, zoom=(1.0, 0.7), pan=0.5, exposure=(0.9, 1.1)),
        Shot(photos["camera"], 6.0, zoom=(0.9, 0.7), pan=-0.5, shake_px=2.0),
        Shot(photos["coffee"], 6.0, zoom=(1.0, 0.8), pan=0.6),
    ]
    path = tmp_path_factory.mktemp("video") / "scenes.mp4"
    truth = write_video(path, shots)
    (path.parent / "scenes.gt.json").write_text(json.dumps(truth))
    return path, truth


@pytest.fixture(scope="session")
def lite_models():
    from pipelines.config import load_config
    from pipelines.profiles import build_models

    return build_models(load_config().model)
