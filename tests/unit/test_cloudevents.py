"""The Kafka record format: CloudEvents 1.0 binary mode, round trip."""

import uuid
from datetime import UTC, datetime

import pytest

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
