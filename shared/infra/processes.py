"""Managing the private infrastructure's child processes: liveness (a zombie is dead), waiting, signals, and the
small files they keep (written atomically, read by lines, tailed for error messages)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Processes this one started, by pid: polling them reaps them, so an exited child is not taken for alive."""


def pid_alive(pid: int) -> bool:
    child = CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None  # poll() also reaps it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an exited process nobody has reaped yet still answers kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def exit_status(pid: int) -> str:
    child = CHILDREN.get(pid)
    return f" with status {child.returncode}" if child is not None and child.returncode is not None else ""


def wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def send_signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def tail_text(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def tail_file(path: Path, lines: int) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64 * 1024))
        return tail_text(handle.read().decode(errors="replace"), lines)
