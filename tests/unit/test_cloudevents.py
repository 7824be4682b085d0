"""The Kafka record format: CloudEvents 1.0 binary mode, round trip."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.contracts import projects
from shared.events import EventMetadata, RecordedEvent
from shared.kafka import NotACloudEventError, from_record, to_record


def recorded() -> RecordedEvent:
    return RecordedEvent(
        event_id=uuid.UUID(int=7),
        stream_id="project-1",
        stream_type="project",
        version=3,
        position=42,
        name="milestone-planned",
        schema_version=1,
        partition_key="p-1",
        data={"planned_value": {"amount": "10.50", "currency": "EUR"}},
        metadata=EventMetadata(actor="dora", correlation_id="c-1", causation_id="cause", traceparent="00-abc-def-01"),
        recorded_at=datetime(2027, 1, 1, 12, 0, tzinfo=UTC),
    )


def test_record_headers_are_cloudevents_binary_mode() -> None:
    key, value, headers = to_record("projects", recorded())
    h = dict(headers)
    assert key == b"p-1"
    assert value == b'{"planned_value":{"amount":"10.50","currency":"EUR"}}'
    assert h["ce_specversion"] == b"1.0"
    assert h["ce_id"] == str(uuid.UUID(int=7)).encode()
    assert h["ce_type"] == b"pmo.projects.milestone-planned.v1"
    assert h["ce_source"] == b"/pmo/projects"
    assert h["ce_subject"] == b"project-1"
    assert h["ce_time"] == b"2027-01-01T12:00:00+00:00"
    assert h["content-type"] == b"application/json"
    assert h["traceparent"] == b"00-abc-def-01"


def test_a_record_decodes_back_to_the_event() -> None:
    key, value, headers = to_record("projects", recorded())
    event = from_record("pmo.projects.v1", 2, 99, key, value, headers)
    assert (event.service, event.name, event.version) == ("projects", "milestone-planned", 1)
    assert event.event_id == uuid.UUID(int=7) and event.key == "p-1" and event.offset == 99
    assert event.metadata == recorded().metadata
    assert event.data["planned_value"]["amount"] == "10.50"


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("ce_specversion", b"1.0"), ("ce_type", b"something.else")],
        [("ce_specversion", b"0.3"), ("ce_type", b"pmo.a.b.v1")],
    ],
)
def test_records_that_are_not_pmo_cloudevents_are_refused(headers: list[tuple[str, bytes]]) -> None:
    with pytest.raises(NotACloudEventError):
        from_record("t", 0, 0, None, b"{}", headers)


@pytest.mark.parametrize("value", [b"[]", b"null", b'"text"', b"12", b"", b"  [1]"])
def test_a_record_whose_data_is_not_a_json_object_is_refused_when_decoded(value: bytes) -> None:
    _, _, headers = to_record("projects", recorded())
    with pytest.raises(NotACloudEventError):
        from_record("t", 0, 0, b"k", value, headers)


@pytest.mark.parametrize("value", [b'{"a": ', b"{not json", b'{"a": 1} trailing'])
def test_data_that_starts_like_an_object_but_is_not_json_fails_where_it_is_first_used(value: bytes) -> None:
    _, _, headers = to_record("projects", recorded())
    event = from_record("t", 0, 0, b"k", value, headers)
    assert "data" not in event.__dict__  # nothing parsed yet
    with pytest.raises(ValueError):
        event.data  # noqa: B018
    with pytest.raises(ValueError):
        event.contract(projects.REGISTRY)


def test_data_is_parsed_on_first_use_as_json_loads_parses_it() -> None:
    _, _, headers = to_record("projects", recorded())
    value = b' {"a": [1, 2.5, "\\u00e9", null, true], "b": {"c": 12345678901234567890123}, "a2": -0.0} '
    event = from_record("t", 0, 0, b"k", value, headers)
    assert event.data == json.loads(value) and event.data is event.data


def test_the_contract_from_the_json_text_equals_the_contract_from_the_parsed_data() -> None:
    from bench.synthetic import projects_topic_records

    for key, value, headers in projects_topic_records(10, "unit"):
        event = from_record("t", 0, 0, key, value, headers)
        from_json = event.contract(projects.REGISTRY)  # validated straight from the text
        assert "data" not in event.__dict__
        assert from_json == projects.REGISTRY.decode(event.name, event.version, event.data)
        assert event.contract(projects.REGISTRY) is from_json  # once per event
    bad = from_record("t", 0, 0, key, value.replace(b'"EUR"', b'"EURO"'), headers)
    with pytest.raises(ValueError):
        bad.contract(projects.REGISTRY)
