"""Facts moved to another project and time, and published on Kafka as their services publish them."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from reporting.domain.ledger import Fact
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r


def for_project(fact_: Fact, project_id: uuid.UUID, recorded_at: datetime) -> Fact:
    """A fact of the builders above, for ``project_id`` (not the shared ``PID``; its milestone ids made the
    project's own too), recorded at ``recorded_at``."""
    data = {**fact_.data, "project_id": str(project_id)}
    if "milestone_id" in data and data["milestone_id"] is not None:
        data["milestone_id"] = str(uuid.uuid5(project_id, str(data["milestone_id"])))
    if "items" in data:  # a performance baseline's items name milestones too
        data["items"] = [{**x, "milestone_id": str(uuid.uuid5(project_id, x["milestone_id"]))} for x in data["items"]]
    return replace(fact_, data=data, recorded_at=recorded_at)


async def publish_facts(kafka: Any, facts: list[Fact]) -> None:
    """The facts as their services publish them: CloudEvents keyed by project, ``ce_time`` = recorded time."""
    from shared.events import EventMetadata, RecordedEvent
    from shared.kafka import new_producer, to_record

    topics = {"projects": p.TOPIC, "budget": b.TOPIC, "resources": r.TOPIC, "invoicing": i.TOPIC}
    producer = new_producer(kafka)
    await producer.start()
    try:
        for f in facts:
            recorded = RecordedEvent(
                event_id=f.event_id,
                stream_id=f"test-{f.event_id}",
                stream_type="test",
                version=1,
                position=0,
                name=f.name,
                schema_version=f.version,
                partition_key=f.data.get("project_id") or f"fx:{f.data['base']}-{f.data['quote']}",
                data=f.data,
                metadata=EventMetadata("tester", "reporting-test"),
                recorded_at=f.recorded_at,
            )
            key, value, headers = to_record(f.service, recorded)
            await producer.send_and_wait(topics[f.service], value=value, key=key, headers=headers)
    finally:
        await producer.stop()
