"""Dependencies point inward: domains import only the standard library and the shared kernel; no service imports
another service; FastAPI, SQLAlchemy and aiokafka stay at the edges."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("projects", "budget", "invoicing", "resources", "reporting")
DOMAIN_MAY_IMPORT = {
    "shared.contracts",
    "shared.money",
    "shared.errors",
    "shared.events",
    "shared.immutable",
    "shared.decider",
    "shared.identity",
    "shared.limits",
    "shared.bounds",
}


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (``from shared import logs`` is ``shared.logs``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in ("shared", "shared.contracts"):
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found


# shared/ in three layers: the kernel (values and contracts a domain may use), the runtime (the event machinery and
# the HTTP edge every service runs on), and operations tooling (which may know every service by name).
KERNEL = (
    "shared.money", "shared.events", "shared.contracts", "shared.errors", "shared.ids", "shared.decider",
    "shared.immutable", "shared.identity", "shared.limits", "shared.bounds", "shared.jsonable",
)  # fmt: skip
RUNTIME = (
    "shared.aio", "shared.auth", "shared.authz", "shared.commands", "shared.consumer", "shared.csvsafe", "shared.db",
    "shared.pg",
    "shared.eventstore", "shared.kafka", "shared.logs", "shared.metrics", "shared.relay", "shared.relay_held",
    "shared.replay", "shared.service", "shared.settings", "shared.web", "shared.edge", "shared.problems",
    "shared.relay_holding", "shared.relay_sending", "shared.reference_rates", "shared.kafka_topics",
    "shared.relay_lanes", "shared.relay_stalls", "shared.relay_wake", "shared.wakeups", "shared.openapi",
    "shared.recovery", "shared.dead_letters", "shared.migrations", "shared.tracing", "shared.workers",
    "shared.processes", "shared.collector", "shared.serve",
)  # fmt: skip
OPERATIONS = ("shared.cli", "shared.demo", "shared.infra")


def _in(module: str, layer: tuple[str, ...]) -> bool:
    return any(module == m or module.startswith(m + ".") for m in layer)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SHARED_MODULES = {_module_name(p): p for p in sorted((ROOT / "shared").rglob("*.py"))}


@pytest.mark.parametrize("module", sorted(SHARED_MODULES))
def test_every_shared_module_sits_in_one_layer_and_imports_only_its_own_or_lower_layers(module: str) -> None:
    if module == "shared":
        return
    layers = [
        name
        for name, layer in (("kernel", KERNEL), ("runtime", RUNTIME), ("operations", OPERATIONS))
        if _in(module, layer)
    ]
    assert len(layers) == 1, f"{module} must be placed in exactly one layer of tests/unit/test_boundaries.py"
    allowed = {"kernel": KERNEL, "runtime": KERNEL + RUNTIME, "operations": KERNEL + RUNTIME + OPERATIONS}[layers[0]]
    for imported in imports(SHARED_MODULES[module]):
        if imported.split(".")[0] == "shared" and imported != "shared":
            assert _in(imported, allowed), f"{module} ({layers[0]}) imports {imported}"


def test_shared_modules_import_each_other_without_a_cycle() -> None:
    graph = {
        m: {i for i in imports(p) if i in SHARED_MODULES and i != m and i != "shared"}
        for m, p in SHARED_MODULES.items()
    }
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(graph[module]):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join([*path, module, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service: str) -> None:
    for path in (ROOT / "services" / service).rglob("*.py"):
        for module in imports(path):
            top = module.split(".")[0]
            assert top not in set(SERVICES) - {service}, f"{path} imports {module}"


DOMAIN_FILES = sorted([*(ROOT / "services").glob("*/*/domain.py"), *(ROOT / "services").glob("*/*/domain/**/*.py")])


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT / "services")))
def test_domain_imports_only_the_standard_library_and_the_shared_kernel(path: Path) -> None:
    service = path.relative_to(ROOT / "services").parts[0]
    for module in imports(path):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or module == "__future__":
            continue
        if module == f"{service}.domain" or module.startswith(f"{service}.domain."):
            continue  # the service's own domain package
        assert any(module == allowed or module.startswith(allowed + ".") for allowed in DOMAIN_MAY_IMPORT), (
            f"{path} imports {module}"
        )


def test_shared_kernel_imports_no_service() -> None:
    for path in (ROOT / "shared").rglob("*.py"):
        for module in imports(path):
            assert module.split(".")[0] not in SERVICES, f"{path} imports {module}"
