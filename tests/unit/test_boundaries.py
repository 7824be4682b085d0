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
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service: str) -> None:
    for path in (ROOT / "services" / service).rglob("*.py"):
        for module in imports(path):
            top = module.split(".")[0]
            assert top not in set(SERVICES) - {service}, f"{path} imports {module}"


@pytest.mark.parametrize("path", sorted((ROOT / "services").glob("*/*/domain.py")), ids=lambda p: p.parent.name)
def test_domain_imports_only_the_standard_library_and_the_shared_kernel(path: Path) -> None:
    for module in imports(path):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or module == "__future__":
            continue
        assert any(module == allowed or module.startswith(allowed + ".") for allowed in DOMAIN_MAY_IMPORT), (
            f"{path} imports {module}"
        )


def test_shared_kernel_imports_no_service() -> None:
    for path in (ROOT / "shared").rglob("*.py"):
        for module in imports(path):
            assert module.split(".")[0] not in SERVICES, f"{path} imports {module}"
