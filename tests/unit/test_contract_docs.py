"""The published JSON Schemas and the AsyncAPI document are generated from the contracts and kept in step."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared.contracts import REGISTRIES, TOPICS, write_docs

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_schemas_and_asyncapi_match_the_contracts(tmp_path: Path) -> None:
    generated = {p.relative_to(tmp_path): p.read_text() for p in write_docs(tmp_path)}
    committed = {p.relative_to(DOCS): p.read_text() for p in (DOCS / "events").rglob("*.json")}
    committed[Path("asyncapi.yaml")] = (DOCS / "asyncapi.yaml").read_text()
    stale = sorted(str(p) for p in generated if committed.get(p) != generated[p])
    extra = sorted(str(p) for p in committed if p not in generated)
    assert not stale and not extra, f"run `make schemas`: stale {stale}, no longer generated {extra}"


def test_every_event_type_of_every_topic_is_in_the_asyncapi_document() -> None:
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert doc["asyncapi"] == "3.0.0"
    for service, (topic, registry) in TOPICS.items():
        channel = doc["channels"][service]
        assert channel["address"] == topic
        names = {
            doc["components"]["messages"][ref["$ref"].split("/")[-1]]["name"] for ref in channel["messages"].values()
        }
        assert names == {f"pmo.{service}.{m.event_name}.v{m.event_version}" for m in registry}
    assert set(REGISTRIES) == set(TOPICS)
