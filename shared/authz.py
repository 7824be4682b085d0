"""Object-level authorisation: which projects and portfolios a caller may see and change (the one owner of these
rules; the roles per route stay in :class:`shared.auth.AccessPolicy`).

A project's *scope* (its portfolio, programme and manager, fixed at registration) is kept by every service in a
``project_scopes`` table (:data:`DDL`), written from the ``project-registered`` events it already consumes
(:func:`record_project_scope`; the projects service from its own command's transaction).

Rules (see docs/security.md, "Object-level authorisation"):

* ``director`` and machine clients (``service``, limited by their route allow-list instead) reach every object;
  so does a token whose portfolios claim holds ``*`` (an organisation-wide function, e.g. the PMO office).
* Anyone else sees and changes a project only when it belongs to one of her portfolios or programmes, or she is
  its recorded manager (:func:`shared.identity.same_person`): a project manager who belongs to no portfolio
  changes only the projects she manages. What the role may do on the route still applies (a viewer writes
  nothing).
* A project outside the caller's scope answers **404**, as if it did not exist (a 403 would tell a stranger that
  it does, and an id is enough to learn a project's existence); lists hold only the projects in scope.
* A route with ``{portfolio_id}`` is reached only by members of that portfolio (404 otherwise).
* Hourly rates and personal data: :data:`RATE_READERS` only (:func:`may_read_rates`).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import Principal, Role
from shared.contracts.projects import ProjectRegistered
from shared.errors import NotFoundError
from shared.identity import same_person, skeleton

DDL = [
    """
    CREATE TABLE IF NOT EXISTS project_scopes (
        project_id   uuid PRIMARY KEY,
        portfolio_id text,
        programme_id text,
        manager      text NOT NULL,
        manager_key  text NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS project_scopes_portfolio ON project_scopes (portfolio_id)",
    "CREATE INDEX IF NOT EXISTS project_scopes_manager ON project_scopes (manager_key)",
]
"""The scope of every project the service knows; ``manager_key`` is :func:`shared.identity.skeleton` of the
manager, so that lists match her however her subject is spelt, as :func:`same_person` does."""

UNSCOPED_ROLES = frozenset({Role.DIRECTOR, Role.SERVICE})
RATE_READERS = frozenset({Role.DIRECTOR, Role.RESOURCE_MANAGER, Role.FINANCE})
"""Who reads hourly rates and personal data."""
_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class ProjectScope:
    """Where a project sits and who manages it (never changes after registration)."""

    portfolio_id: str | None
    programme_id: str | None
    manager: str


def sees_everything(principal: Principal) -> bool:
    return principal.all_portfolios or bool(principal.roles & UNSCOPED_ROLES)


def in_scope(principal: Principal, scope: ProjectScope) -> bool:
    """Whether ``principal`` may see (and, as far as her role allows, change) a project of ``scope``."""
    if sees_everything(principal):
        return True
    if scope.portfolio_id is not None and scope.portfolio_id in principal.portfolios:
        return True
    if scope.programme_id is not None and scope.programme_id in principal.programmes:
        return True
    return same_person(principal.subject, scope.manager)


def member_of_portfolio(principal: Principal, portfolio_id: str) -> bool:
    return sees_everything(principal) or portfolio_id in principal.portfolios


def may_read_rates(principal: Principal | None) -> bool:
    """Hourly rates and personal data: resource managers, finance and the director."""
    return principal is not None and bool(principal.roles & RATE_READERS)


async def record_project_scope(conn: AsyncConnection, registered: ProjectRegistered) -> None:
    """Keep a registered project's scope (idempotent: a redelivered or replayed registration changes nothing)."""
    portfolio_id, manager = registered.portfolio_id, registered.manager
    await conn.execute(
        text(
            "INSERT INTO project_scopes (project_id, portfolio_id, programme_id, manager, manager_key) "
            "VALUES (:p, :pf, :pg, :m, :k) ON CONFLICT (project_id) DO NOTHING"
        ),
        {
            "p": registered.project_id,
            "pf": portfolio_id or None,
            "pg": registered.programme_id,
            "m": manager,
            "k": skeleton(manager),
        },
    )


def scope_filter(principal: Principal | None, column: str = "project_id") -> tuple[str, dict[str, Any]]:
    """A SQL condition on ``column`` (a project id) that holds for the projects in the caller's scope, and its
    parameters (``TRUE`` when she sees everything). For list queries of a service that has ``project_scopes``."""
    if principal is None or sees_everything(principal):
        return "TRUE", {}
    condition = (
        f"{column} IN (SELECT project_id FROM project_scopes WHERE portfolio_id = ANY(:authz_portfolios) "
        "OR programme_id = ANY(:authz_programmes) OR manager_key = :authz_manager)"
    )
    return condition, {
        "authz_portfolios": sorted(principal.portfolios),
        "authz_programmes": sorted(principal.programmes),
        "authz_manager": skeleton(principal.subject),
    }


class ProjectDirectory:
    """A service's project scopes, read from ``project_scopes`` and remembered (a scope never changes; projects not
    known yet are asked again next time)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._known: OrderedDict[uuid.UUID, ProjectScope] = OrderedDict()

    async def scope_of(self, project_id: uuid.UUID) -> ProjectScope | None:
        scope = self._known.get(project_id)
        if scope is not None:
            return scope
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT portfolio_id, programme_id, manager FROM project_scopes WHERE project_id = :p"),
                    {"p": project_id},
                )
            ).first()
        if row is None:
            return None
        scope = ProjectScope(row.portfolio_id, row.programme_id, row.manager)
        self._known[project_id] = scope
        if len(self._known) > _CACHE_SIZE:
            self._known.popitem(last=False)
        return scope


def principal_of(request: Request) -> Principal | None:
    """The caller the edge admitted (None on a public route)."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else None


def _directory(request: Request) -> ProjectDirectory | None:
    directory = getattr(request.app.state, "project_directory", None)
    if directory is None:
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is None:
            return None
        directory = request.app.state.project_directory = ProjectDirectory(runtime.engine)
    return directory if isinstance(directory, ProjectDirectory) else None


async def object_in_scope(request: Request) -> None:
    """The dependency every secured route declares (through :func:`shared.web.create_app`): a ``{project_id}`` or
    ``{portfolio_id}`` in the path outside the caller's scope is a 404, whatever the method."""
    principal = principal_of(request)
    if principal is None or sees_everything(principal):
        return
    portfolio_id = request.path_params.get("portfolio_id")
    if isinstance(portfolio_id, str) and not member_of_portfolio(principal, portfolio_id):
        raise NotFoundError(f"portfolio {portfolio_id} does not exist")
    raw = request.path_params.get("project_id")
    if raw is None:
        return
    try:
        project_id = uuid.UUID(str(raw))
    except ValueError:
        return  # the route's own validation names the parameter
    directory = _directory(request)
    scope = await directory.scope_of(project_id) if directory is not None else None
    if scope is None or not in_scope(principal, scope):
        raise NotFoundError(f"project {project_id} does not exist")


def withhold_rates(request: Request, *docs: dict[str, Any]) -> None:
    """Empty the ``rates`` of each answer (a resource's hourly rates) unless the caller may read rates
    (:func:`may_read_rates`); the answer keeps its shape."""
    if may_read_rates(principal_of(request)):
        return
    for doc in docs:
        if "rates" in doc:
            doc["rates"] = []
