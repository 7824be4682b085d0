"""Published event contracts, one module per producing service.

These models are the only thing services share about each other's facts: a consumer decodes another
service's events with them, never with that service's domain code. ``python -m shared.contracts docs`` writes a
JSON Schema per event type and version (``docs/events/``) and the AsyncAPI 3 document of every topic
(``docs/asyncapi.yaml``); a test keeps both in step with these models. The schemas are open (no
``additionalProperties: false``): readers ignore fields they do not know. ``python -m shared.contracts snapshot``
records them in ``shared/contracts/snapshot.json``, against which a unit test refuses a breaking change that keeps
its version (``shared.contracts.compat``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.contracts import alerts, budget, projects, resources
from shared.events import EventRegistry, open_schema

TOPICS: dict[str, tuple[str, EventRegistry]] = {
    "projects": (projects.TOPIC, projects.REGISTRY),
    "budget": (budget.TOPIC, budget.REGISTRY),
    "resources": (resources.TOPIC, resources.REGISTRY),
    "reporting": (alerts.TOPIC, alerts.REGISTRY),
}
try:  # the invoicing contracts exist once that service does
    from shared.contracts import invoicing

    TOPICS["invoicing"] = (invoicing.TOPIC, invoicing.REGISTRY)
except ImportError:  # pragma: no cover
    pass

REGISTRIES: dict[str, EventRegistry] = {service: registry for service, (_, registry) in TOPICS.items()}


def schema_id(service: str, name: str, version: int) -> str:
    return f"https://pmo.example/schemas/{service}/{name}.v{version}.schema.json"


def json_schemas() -> dict[tuple[str, str, int], dict[str, Any]]:
    """JSON Schema (2020-12) of the ``data`` of every event, keyed by (service, name, version)."""
    out = {}
    for service, registry in REGISTRIES.items():
        for model in registry:
            schema = open_schema(model.model_json_schema(mode="serialization"))
            schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            schema["$id"] = schema_id(service, model.event_name, model.event_version)
            schema["x-cloudevents-type"] = f"pmo.{service}.{model.event_name}.v{model.event_version}"
            if registry.upcasts(model.event_name, model.event_version):
                schema["x-pmo-read-as"] = f"pmo.{service}.{model.event_name}.v{model.event_version + 1}"
            out[(service, model.event_name, model.event_version)] = schema
    return out


def asyncapi() -> dict[str, Any]:
    """An AsyncAPI 3.0 document of the topics and their messages (CloudEvents 1.0, binary mode)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for service, (topic, registry) in TOPICS.items():
        channel_messages = {}
        for model in registry:
            key = f"{service}.{model.event_name}.v{model.event_version}"
            description = (model.__doc__ or "").strip()
            if registry.upcasts(model.event_name, model.event_version):
                description += (
                    f"\n\nSuperseded by v{model.event_version + 1}: no longer produced, still on the topic for the "
                    f"events published before; our consumers read it as v{model.event_version + 1} (upcast)."
                )
            messages[key] = {
                "name": f"pmo.{service}.{model.event_name}.v{model.event_version}",
                "title": model.event_name,
                "summary": (model.__doc__ or "").strip().split("\n")[0],
                **({"description": description} if description else {}),
                "contentType": "application/json",
                "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
                "payload": {
                    "schemaFormat": "application/schema+json;version=2020-12",
                    "schema": {"$ref": f"events/{service}/{model.event_name}.v{model.event_version}.schema.json"},
                },
                "bindings": {
                    "kafka": {
                        "key": {
                            "type": "string",
                            "description": "the project id (or "
                            "portfolio:/resource:/role:/department:/fx: ids for events not about one "
                            "project)",
                        },
                        "bindingVersion": "0.5.0",
                    }
                },
            }
            channel_messages[key] = {"$ref": f"#/components/messages/{key}"}
        channels[service] = {
            "address": topic,
            "description": f"Events of the {service} service. Kept forever (retention.ms=-1); the replayable log.",
            "messages": channel_messages,
            "bindings": {
                "kafka": {"topic": topic, "topicConfiguration": {"retention.ms": -1}, "bindingVersion": "0.5.0"}
            },
        }
        operations[f"consume-{service}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{service}"},
            "summary": f"Finance tools and other services consume {topic}.",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "PMO backend events",
            "version": "1.0.0",
            "description": "Domain events of the PMO backend as CloudEvents 1.0 in Kafka binary mode: the record value"
            " is the event data (JSON), the ce_* headers carry the attributes. Money is {amount: exact decimal "
            "string, currency: ISO 4217}.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {
                "CloudEventHeaders": {
                    "type": "object",
                    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
                    "properties": {
                        "ce_specversion": {"const": "1.0"},
                        "ce_id": {"type": "string", "description": "the event id (unique; use it to drop duplicates)"},
                        "ce_source": {"type": "string", "examples": ["/pmo/projects"]},
                        "ce_type": {"type": "string", "examples": ["pmo.projects.milestone-reached.v1"]},
                        "ce_subject": {"type": "string", "description": "the aggregate's stream id"},
                        "ce_time": {"type": "string", "format": "date-time"},
                        "content-type": {"const": "application/json"},
                        "ce_actor": {"type": "string", "description": "who caused the event"},
                        "ce_correlationid": {"type": "string"},
                        "ce_causationid": {"type": "string"},
                        "ce_streamversion": {"type": "string", "description": "the aggregate's version"},
                        "traceparent": {"type": "string", "description": "W3C trace context, when there is one"},
                    },
                }
            },
        },
    }


def write_docs(target: Path) -> list[Path]:
    """Write ``events/<service>/<name>.v<N>.schema.json`` and ``asyncapi.yaml`` under ``target``."""
    import yaml

    written = []
    for (service, name, version), schema in json_schemas().items():
        path = target / "events" / service / f"{name}.v{version}.schema.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    path = target / "asyncapi.yaml"
    path.write_text(yaml.safe_dump(asyncapi(), sort_keys=False, width=120))
    written.append(path)
    return written
