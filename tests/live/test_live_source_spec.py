"""``--source`` parsing: kinds, default ids, and one-line errors naming the bad spec."""

import pytest

from streamer.capture.source_spec import SourceKind, SourceSpec, parse_sources
from streamer.redact import redact


def test_kinds_and_default_ids(tmp_path):
    video = tmp_path / "lobby cam.mp4"
    video.write_bytes(b"")
    specs = parse_sources(["0", "/dev/video2", "rtsp://10.0.0.5/stream1", "https://example.org/live.m3u8", str(video)])
    assert specs == [
        SourceSpec("cam0", SourceKind.WEBCAM, 0),
        SourceSpec("cam1", SourceKind.WEBCAM, "/dev/video2"),
        SourceSpec("cam2", SourceKind.STREAM, "rtsp://10.0.0.5/stream1"),
        SourceSpec("cam3", SourceKind.STREAM, "https://example.org/live.m3u8"),
        SourceSpec("lobby_cam", SourceKind.FILE, str(video)),
    ]
    assert [s.live for s in specs] == [True, True, True, True, False]


def test_explicit_ids_are_kept_and_defaults_skip_them(tmp_path):
    video = tmp_path / "a=b.mp4"  # an existing file with '=' in its name is a file
    video.write_bytes(b"")
    specs = parse_sources(["cam0=rtsp://h/x?token=abc", "1", "door.left=http://h:8080/v", str(video)])
    assert [(s.id, s.target) for s in specs] == [
        ("cam0", "rtsp://h/x?token=abc"),
        ("cam1", 1),
        ("door.left", "http://h:8080/v"),
        ("a_b", str(video)),
    ]


def test_file_ids_are_made_unique(tmp_path):
    (tmp_path / "x").mkdir()
    for p in (tmp_path / "clip.mp4", tmp_path / "x" / "clip.mp4"):
        p.write_bytes(b"")
    specs = parse_sources([str(tmp_path / "clip.mp4"), str(tmp_path / "x" / "clip.mp4")])
    assert [s.id for s in specs] == ["clip", "clip-2"]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("9cam=rtsp://h/x", "bad id '9cam'"),
        ("cam0=", "nothing to read after the id"),
        ("udp://239.0.0.1:1234", "unsupported scheme 'udp'"),
        ("rtsp:///nohost", "URL has no host"),
        ("missing.mp4", "'missing.mp4': no such file"),
    ],
)
def test_bad_specs_name_themselves(spec, message):
    with pytest.raises(ValueError) as info:
        parse_sources([spec])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_duplicate_ids_and_directories_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="'cam0' is used twice"):
        parse_sources(["cam0=0", "cam0=1"])
    with pytest.raises(ValueError, match="not a regular file"):
        parse_sources([str(tmp_path)])


def test_passwords_never_reach_messages():
    assert redact("rtsp://admin:hunter2@10.0.0.5:554/s") == "rtsp://admin:***@10.0.0.5:554/s"
    assert redact("rtsp://10.0.0.5/s") == "rtsp://10.0.0.5/s"
    with pytest.raises(ValueError) as info:
        parse_sources(["cam0=ftp://admin:hunter2@h/x"])
    assert "hunter2" not in str(info.value)
    assert parse_sources(["rtsp://u:pw@h/x"])[0].label == "rtsp://u:***@h/x"
