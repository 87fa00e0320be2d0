"""The sources paused by MQTT's detect/set, kept on disk so that they stay paused across restarts."""

import pytest

from streamer.feed.controls import PausedSources


def test_a_paused_source_is_paused_again_by_the_next_process_and_a_resumed_one_is_not(tmp_path):
    path = tmp_path / "log.sqlite.detect.json"
    first = PausedSources(path)
    first.set("door", False)
    first.set("yard", False)
    first.set("yard", True)
    again = PausedSources(path)
    assert "door" in again and "yard" not in again and again.paused() == ["door"]


def test_without_a_file_nothing_is_paused_and_nothing_is_written(tmp_path):
    paused = PausedSources()
    paused.set("door", False)
    assert "door" in paused and not list(tmp_path.iterdir())
    assert PausedSources(tmp_path / "missing.json").paused() == []


@pytest.mark.parametrize("text", ["{", '{"paused": "door"}', '{"other": []}', '{"paused": [1]}'])
def test_an_unreadable_file_is_one_error_naming_it_and_is_left_alone(tmp_path, text):
    path = tmp_path / "detect.json"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        PausedSources(path)
    message = str(error.value)
    assert message.startswith(f"detect state {path}: unreadable (") and "remove it" in message and "\n" not in message
    assert path.read_text() == text


def test_a_write_that_fails_is_one_warning_and_the_set_still_changes(tmp_path, caplog):
    paused = PausedSources(tmp_path / "no-such-folder" / "detect.json")
    paused.set("door", False)
    paused.set("yard", False)
    assert "door" in paused and "yard" in paused
    assert len([r for r in caplog.records if "cannot write it" in r.getMessage()]) == 1
