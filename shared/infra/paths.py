"""Where the private infrastructure keeps its state, and which ports a checkout uses.

All state lives under one git-ignored folder, ``<checkout>/.pmo`` (or ``PMO_STATE_DIR``). Ports are derived
from the checkout's absolute path, so two checkouts on one machine do not collide.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    """The folder holding data, logs and jars of the private infrastructure (created on demand)."""
    configured = os.environ.get("PMO_STATE_DIR")
    path = Path(configured).resolve() if configured else REPO_ROOT / ".pmo"
    path.mkdir(parents=True, exist_ok=True)
    return path


def port_base() -> int:
    """First of a block of 20 TCP ports reserved for this checkout (``PMO_PORT_BASE`` overrides).

    Blocks lie in 20000-39999, chosen by a hash of the checkout path.
    """
    configured = os.environ.get("PMO_PORT_BASE")
    if configured:
        return int(configured)
    digest = hashlib.sha256(str(state_dir()).encode()).digest()
    return 20000 + (int.from_bytes(digest[:4], "big") % 1000) * 20


# Offsets inside the block.
KAFKA_PORT_OFFSET = 0
KAFKA_CONTROLLER_PORT_OFFSET = 1
SERVICE_PORT_OFFSETS = {"projects": 10, "budget": 11, "invoicing": 12, "resources": 13, "reporting": 14}
