"""Protocol v1 rules without sockets: client message parsing, event encoding, schemas, limiters."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from streamer.feed.protocol import (LOGGED_TYPES, CloseCode, EmbeddingFormat, ErrorReason, EventType, ProtocolError, Subscription,
                               decode_embedding_frame, embedding_array, error_message,
                               hello_message, lagging_message, load_schema, parse_client_message, prepare_event,
                               subscribed_message)

from feedkit import SCHEMA_DIR, caption, embedding, stats, status

MESSAGE_TYPES = ["hello", "subscribe", "subscribed", "caption", "status", "stats", "embedding", "baseline_caption", "error", "lagging"]


def validate(message: dict | str) -> None:
    if isinstance(message, str):
        message = json.loads(message)
    jsonschema.Draft202012Validator(load_schema(message["type"])).validate(message)


@pytest.mark.parametrize("name", MESSAGE_TYPES)
def test_every_message_type_has_a_valid_schema(name):
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == name


def test_the_contract_caption_example_validates_and_extras_do_not():
    example = {"v": 1, "type": "caption", "seq": 42, "source": "cam0", "t": 12.48, "t_start": 10.5, "t_end": 12.5,
               "wall_time": 1764460000.123, "text": "tabby cat", "labels": [{"text": "tabby cat", "score": 0.61}],
               "drift": 0.31, "reason": "change",
               "latency_ms": {"encode": 9.1, "predict": 0.4, "decode": 1.2, "total": 14.0}}
    validate(example)
    validate({**example, "threshold": 0.25, "dropped_frames": 3, "baseline": {"text": "a cat"}})
    for bad in ({**example, "colour": "red"}, {**example, "reason": "boredom"},
                {**example, "latency_ms": {"total": -1.0}}, {**example, "dropped_frames": -1}):
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)


def test_logged_events_get_the_given_seq_and_are_valid():
    out = prepare_event(caption(1), seq=7)
    message = json.loads(out.text)
    assert (out.seq, message["seq"], out.type) == (7, 7, EventType.CAPTION)
    assert list(message)[:3] == ["v", "type", "seq"]
    validate(message)
    validate(prepare_event(status("reconnecting") | {"attempt": 2, "delay_s": 4.0}, seq=8).text)


def test_ephemeral_events_carry_no_seq():
    out = prepare_event(stats() | {"seq": 99}, seq=None)
    assert out.seq is None and "seq" not in json.loads(out.text)
    validate(out.text)
    with pytest.raises(ValueError, match="take no seq"):
        prepare_event(stats(), seq=3)
    with pytest.raises(ValueError, match="need seq"):
        prepare_event(caption(1), seq=None)


def test_embedding_becomes_float16_base64_and_an_identical_binary_frame():
    event = embedding(dim=384)
    out = prepare_event(event, seq=None)
    message = json.loads(out.text)
    validate(message)
    assert (message["dim"], message["dtype"]) == (384, "float16")
    expected = event["embedding"].astype(np.float16)
    np.testing.assert_array_equal(embedding_array(message), expected)
    header, vector = decode_embedding_frame(out.binary)
    np.testing.assert_array_equal(vector, expected)
    assert header == {k: v for k, v in message.items() if k != "data"}
    assert out.binary[:4] == b"JSEM" and int.from_bytes(out.binary[4:8], "little") == len(out.binary) - 8 - 384 * 2
    assert isinstance(event["embedding"], np.ndarray), "the input event is not modified"


@pytest.mark.parametrize("event, message", [
    ({**caption(1), "v": 2}, "field v must be 1"),
    ({**caption(1), "type": "gossip"}, "event type 'gossip' is unknown"),
    ({k: v for k, v in caption(1).items() if k != "text"}, "caption event is missing field.*text"),
    ({**caption(1), "colour": "red"}, "caption event has unknown field.*colour"),
    ({**caption(1), "drift": float("nan")}, "not JSON-serializable"),
    ({**caption(1), "source": ""}, "source must be a non-empty string"),
    ({**embedding(), "embedding": np.zeros((2, 3))}, "1-D float array"),
    ({**embedding(), "t": float("inf")}, "embedding event is not JSON-serializable"),
])
def test_bad_pipeline_events_are_refused_naming_the_problem(event, message):
    with pytest.raises(ValueError, match=message):
        prepare_event(event, seq=None if event.get("type") == "embedding" else 1)


def test_numpy_scalars_become_json_numbers():
    event = caption(1, drift=np.float32(0.5), labels=[{"text": "x", "score": np.float64(0.25)}])
    message = json.loads(prepare_event(event, seq=1).text)
    assert message["drift"] == 0.5 and message["labels"][0]["score"] == 0.25


def test_subscribe_defaults_and_full_form():
    assert parse_client_message('{"type":"subscribe"}', 4096) == Subscription()
    sub = parse_client_message(json.dumps({"v": 1, "type": "subscribe", "types": ["caption", "embedding"],
                                           "sources": ["cam1"], "from_seq": 0, "embedding_format": "binary"}), 4096)
    assert sub == Subscription(frozenset({EventType.CAPTION, EventType.EMBEDDING}), frozenset({"cam1"}), 0,
                               EmbeddingFormat.BINARY)


@pytest.mark.parametrize("data, reason", [
    (b"\x00\xffgarbage", ErrorReason.BINARY_NOT_ACCEPTED),
    ("{not json", ErrorReason.BAD_JSON),
    ("[" * 3000 + "]" * 3000, ErrorReason.TOO_BIG),
    ("[1, 2]", ErrorReason.BAD_MESSAGE),
    ('{"type": "subscribe", "v": 2}', ErrorReason.UNSUPPORTED_VERSION),
    ('{"type": "unsubscribe"}', ErrorReason.UNKNOWN_TYPE),
    ('{"types": ["caption"]}', ErrorReason.UNKNOWN_TYPE),
    ('{"type": "subscribe", "types": "caption"}', ErrorReason.BAD_MESSAGE),
    ('{"type": "subscribe", "types": ["gossip"]}', ErrorReason.BAD_MESSAGE),
    ('{"type": "subscribe", "sources": [1]}', ErrorReason.BAD_MESSAGE),
    ('{"type": "subscribe", "from_seq": -1}', ErrorReason.BAD_MESSAGE),
    ('{"type": "subscribe", "from_seq": "12"}', ErrorReason.BAD_MESSAGE),
    ('{"type": "subscribe", "from_seq": true}', ErrorReason.BAD_MESSAGE),
    ('{"type": "subscribe", "embedding_format": "png"}', ErrorReason.BAD_MESSAGE),
    ('{"type": "subscribe", "fromseq": 3}', ErrorReason.BAD_MESSAGE),
])
def test_bad_client_messages_get_a_reason(data, reason):
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(data, 4096)
    assert caught.value.reason is reason
    validate(error_message(caught.value.reason, caught.value.detail))


def test_deep_nesting_under_the_size_limit_is_bad_json_not_a_crash():
    with pytest.raises(ProtocolError) as caught:
        parse_client_message("[" * 100_000, 1_000_000)
    assert caught.value.reason is ErrorReason.BAD_JSON


def test_every_event_type_is_built_by_the_event_module_and_matches_its_schema():
    from pipelines.core.caption import Caption, StageLatency
    from streamer.feed.events import (BaselineCaptionEvent, EnrichmentEvent, caption_event, embedding_event,
                                      scene_event, stats_event, status_event)
    from streamer.capture.status import SourceState, SourceStatus

    class Counts:  # what stats_event reads of a source's running counts
        frames, clips, decodes, first_t, last_t, media_s = 8, 3, 1, 0.0, 2.0, 2.0

        def percentile(self, which, q):
            return 1.0

    built = {
        EventType.CAPTION: caption_event(Caption("cam0", 2.0, 1.0, 2.0, 1.7e9, "tabby", (("tabby", 0.9),), 2.1, "change", 1.75,
                                                 StageLatency(1.0, 0.5, 0.2, 1.8))),
        EventType.STATUS: status_event(SourceStatus("cam0", SourceState.RECONNECTING, "retrying in 2 s", attempt=1, delay_s=2.0)),
        EventType.STATS: stats_event("cam0", Counts(), wall_s=1.0),
        EventType.EMBEDDING: embedding_event("cam0", 0.0, 2.0, np.ones(8, dtype=np.float32), drift=0.4, threshold=1.75),
        EventType.BASELINE_CAPTION: BaselineCaptionEvent("cam0", 0.0, 2.0, 1.7e9, "a cat", "random", "token ids",
                                                         0.5, 1.2, 10.0, 20.0, 30.0).to_dict(),
        EventType.ENRICHMENT: EnrichmentEvent("cam0", 6, 2.0, "done", "a cat sits", None, "tiny architecture, random init",
                                              "random", "token ids", change=True, latency_ms=30.0, cpu_s=0.02, lag_s=0.1,
                                              tokens=3).to_dict(),
        EventType.SCENE: scene_event({"source": "cam0", "id": "cam0-6", "start_time": 2.0, "end_time": None, "caption_seq": 6,
                                      "caption": "tabby", "labels": [{"text": "tabby", "score": 0.9}], "snapshot": None,
                                      "description": None}, "new", 2.0),
    }
    assert set(built) == set(EventType)
    for kind, event in built.items():
        out = prepare_event(event, 7 if kind in LOGGED_TYPES else None)
        assert out.type is kind and json.loads(out.text) == out.message
        validate(out.text)
    pretrained = BaselineCaptionEvent("cam0", 0.0, 2.0, 1.7e9, "a cat on a sofa", "pretrained", None, 0.5, 1.2, 10.0, 20.0, 30.0)
    validate(prepare_event(pretrained.to_dict(), 8).text)  # pretrained weights: no note


def test_the_caption_event_reads_exactly_the_fields_of_the_domain_caption():
    """The feed may not import the core, so events.py states what it reads of a Caption as a
    Protocol; this keeps the two declarations of one shape in step (a field added to one fails here)."""
    from dataclasses import fields

    from pipelines.core.caption import Caption, StageLatency
    from streamer.feed.events import CaptionSource, LatencySource

    assert LatencySource.__annotations__ == {f.name: f.type for f in fields(StageLatency)}
    assert CaptionSource.__annotations__ == {**{f.name: f.type for f in fields(Caption)}, "latency": "LatencySource"}


def test_server_messages_match_their_schemas():
    validate(hello_message(server="jepa-stream 0.1.0", sources=["cam1", "cam0"], profile="lite", last_seq=0,
                           first_seq=None, limits={"client_queue": 256}))
    validate(subscribed_message(Subscription(), last_seq=5))
    validate(lagging_message({"embedding": 3, "stats": 0}, queued=256, queue_max=256))


def test_close_codes_are_the_documented_ones():
    assert {c.name: c.value for c in CloseCode} == {"GOING_AWAY": 1001, "POLICY_VIOLATION": 1008,
                                                     "MESSAGE_TOO_BIG": 1009, "INTERNAL_ERROR": 1011, "TRY_AGAIN_LATER": 1013,
                                                     "RESUME": 4000}
