"""Published event contracts, one module per producing service.

These models are the only thing services share about each other's facts: a consumer decodes another
service's events with them, never with that service's domain code. Their JSON Schemas are generated from
these models (``python -m shared.contracts``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shared.contracts import budget, projects
from shared.events import EventRegistry

REGISTRIES: dict[str, EventRegistry] = {"projects": projects.REGISTRY, "budget": budget.REGISTRY}


def write_schemas(target: Path) -> list[Path]:
    """Write ``<service>/<event>.v<N>.schema.json`` for every contract under ``target``."""
    written = []
    for service, registry in REGISTRIES.items():
        for key, schema in registry.json_schemas().items():
            path = target / service / f"{key}.schema.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
            written.append(path)
    return written


if __name__ == "__main__":
    for p in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events")):
        print(p)
