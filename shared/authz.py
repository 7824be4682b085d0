"""Object-level authorisation: which projects and portfolios a caller may see and change (the one owner of these
rules; the roles per route stay in :class:`shared.auth.AccessPolicy`).

A project's *scope* (its portfolio, programme and manager, set at registration, the first two changed by a move)
is kept by every service in a ``project_scopes`` table (:data:`DDL`), written from the ``project-registered`` and
``project-moved`` events it already consumes (:func:`record_project_scope`, :func:`record_project_move`; the projects
service from its own command's transaction).

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
* An object addressed by another id (an invoice, an alert, a work sheet, an allocation) is scoped through its
  project: each service names, per path parameter, the query that gives the object's project
  (:class:`ObjectOwner`, ``ServiceSpec.object_owners``); out of scope is a 404 naming the object.
* Lists: a route takes :data:`InScope` (one dependency) and hands its :meth:`CallerScope.where` condition (or
  :meth:`CallerScope.project_ids`) to its query.
* A command naming a project in its body (an invoice's, an allocation's, a work sheet's project, a dependency's
  provider, a goods receipt's commitment, the portfolio or programme of a new project) is checked by its handler
  with the same :data:`InScope` (:meth:`CallerScope.require` before any work, :meth:`CallerScope.admits` for an
  object the command reads): out of scope is the route's own answer for a project it does not know.
* Hourly rates and personal data: :data:`RATE_READERS` only (:func:`may_read_rates`).
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import Principal, Role
from shared.contracts.project_edits import ProjectMoved
from shared.contracts.projects import ProjectRegistered
from shared.errors import NotFoundError
from shared.identity import same_person, skeleton
from shared.pg import driver

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
"""Who reads hourly rates and personal data (contact details): the roles that pay people and plan their time."""
PERSONAL_DATA_READERS = RATE_READERS
_CACHE_SIZE = 10_000
SCOPE_MEMORY_SECONDS = 5.0
"""How long a process trusts a project's scope it read (a move changes it: every replica sees the move within this
time, whichever replica's consumer applied it)."""


@dataclass(frozen=True)
class ProjectScope:
    """Where a project sits and who manages it (the manager never changes; a move changes the rest)."""

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


async def record_project_move(conn: AsyncConnection, moved: ProjectMoved) -> None:
    """Keep a moved project's new portfolio and programme (idempotent: a redelivered move changes nothing more)."""
    await conn.execute(
        text("UPDATE project_scopes SET portfolio_id = :pf, programme_id = :pg WHERE project_id = :p"),
        {"p": moved.project_id, "pf": moved.portfolio_id or None, "pg": moved.programme_id},
    )


async def record_project_scope(conn: AsyncConnection, registered: ProjectRegistered) -> None:
    """Keep a registered project's scope (idempotent: a redelivered or replayed registration changes nothing)."""
    portfolio_id, manager = registered.portfolio_id, registered.manager
    await (await driver(conn)).execute(  # the command path of every registration: asyncpg's prepared statement
        "INSERT INTO project_scopes (project_id, portfolio_id, programme_id, manager, manager_key) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id) DO NOTHING",
        registered.project_id,
        portfolio_id or None,
        registered.programme_id,
        manager,
        skeleton(manager),
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


@dataclass(frozen=True)
class ObjectOwner:
    """How a service finds the project of an object addressed by a path parameter: ``sql`` selects one
    ``project_id`` for the parameter ``:id`` (no row: an unknown object, left to the route's own 404); ``parse``
    turns the path's text into the column's type (a ``ValueError`` leaves the value to the route's validation)."""

    sql: str
    parse: Callable[[str], Any] = uuid.UUID


ObjectOwners = Mapping[str, ObjectOwner]
"""Per path parameter (``invoice_id``, ``alert_id``, ``sheet_id``, ...): its :class:`ObjectOwner`."""


class ProjectDirectory:
    """A service's project scopes, read from ``project_scopes`` and remembered for :data:`SCOPE_MEMORY_SECONDS` (a
    move changes a scope; projects not known yet are asked again next time)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._known: OrderedDict[uuid.UUID, tuple[ProjectScope, float]] = OrderedDict()
        self._owners: OrderedDict[tuple[str, Any], uuid.UUID] = OrderedDict()

    async def scope_of(self, project_id: uuid.UUID) -> ProjectScope | None:
        known = self._known.get(project_id)
        if known is not None and time.monotonic() - known[1] < SCOPE_MEMORY_SECONDS:
            return known[0]
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
        self._known[project_id] = (scope, time.monotonic())
        self._known.move_to_end(project_id)
        if len(self._known) > _CACHE_SIZE:
            self._known.popitem(last=False)
        return scope

    async def project_of(self, owner: ObjectOwner, value: Any) -> uuid.UUID | None:
        """The project of the object ``value`` (remembered: an object never moves to another project); None for an
        object the service does not know."""
        key = (owner.sql, value)
        found = self._owners.get(key)
        if found is not None:
            return found
        async with self.engine.connect() as conn:
            project_id = (await conn.execute(text(owner.sql), {"id": value})).scalar()
        if project_id is None:
            return None
        found = project_id if isinstance(project_id, uuid.UUID) else uuid.UUID(str(project_id))
        self._owners[key] = found
        if len(self._owners) > _CACHE_SIZE:
            self._owners.popitem(last=False)
        return found


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


def _owners(request: Request) -> ObjectOwners:
    owners = getattr(request.app.state, "object_owners", None)
    return owners if isinstance(owners, Mapping) else {}


async def object_in_scope(request: Request) -> None:
    """The dependency every secured route declares (through :func:`shared.web.create_app`): a ``{project_id}`` or
    ``{portfolio_id}`` in the path outside the caller's scope is a 404, whatever the method; so is an object the
    service's :data:`ObjectOwners` trace to a project outside it (``{invoice_id}``, ``{alert_id}``, ...)."""
    principal = principal_of(request)
    if principal is None or sees_everything(principal):
        return
    params = request.path_params
    portfolio_id = params.get("portfolio_id")
    if isinstance(portfolio_id, str) and not member_of_portfolio(principal, portfolio_id):
        raise NotFoundError(f"portfolio {portfolio_id} does not exist")
    directory = _directory(request)
    raw = params.get("project_id")
    if raw is not None:
        try:
            project_id = uuid.UUID(str(raw))
        except ValueError:
            return  # the route's own validation names the parameter
        scope = await directory.scope_of(project_id) if directory is not None else None
        if scope is None or not in_scope(principal, scope):
            raise NotFoundError(f"project {project_id} does not exist")
        return  # the route finds its other objects within this project
    for name, owner in _owners(request).items():
        value = params.get(name)
        if value is None or directory is None:
            continue
        try:
            parsed = owner.parse(str(value))
        except ValueError:
            continue  # the route's own validation names the parameter
        owning = await directory.project_of(owner, parsed)
        if owning is None:
            continue  # unknown: the route answers its own 404
        scope = await directory.scope_of(owning)
        if scope is None or not in_scope(principal, scope):
            raise NotFoundError(f"{name.removesuffix('_id').replace('_', ' ')} {value} does not exist")


@dataclass(frozen=True)
class CallerScope:
    """The caller's scope: for a list query (:data:`InScope`), and for a command that names a project (or an object
    of a project) in its body rather than its path (:meth:`admits`, :meth:`require`: the handler calls them with
    the ids of the body)."""

    principal: Principal | None
    directory: ProjectDirectory | None = None

    @property
    def everything(self) -> bool:
        return self.principal is None or sees_everything(self.principal)

    @property
    def portfolios(self) -> frozenset[str] | None:
        """The portfolios the caller belongs to (None: every one)."""
        return None if self.everything or self.principal is None else self.principal.portfolios

    def where(self, column: str = "project_id") -> tuple[str, dict[str, Any]]:
        """:func:`scope_filter` for the caller: a SQL condition on ``column`` and its parameters."""
        return scope_filter(self.principal, column)

    async def admits(self, project_id: uuid.UUID) -> bool:
        """Whether the caller may name ``project_id`` in a command's body: always when she sees everything (the
        command's own rules then decide about a project the service does not know); otherwise only a project this
        service knows (``project_scopes``) and that is in her scope. A project out of her scope and one that does
        not exist are alike to her: a handler treats both as the project it does not know."""
        if self.everything:
            return True
        if self.directory is None or self.principal is None:
            return False  # nothing to check the project against: refused, never let through
        scope = await self.directory.scope_of(project_id)
        return scope is not None and in_scope(self.principal, scope)

    async def require(self, project_id: uuid.UUID, unknown: Callable[[], object]) -> None:
        """Refuse a command naming ``project_id`` in its body, before any work, unless :meth:`admits`:
        ``unknown`` raises the route's own refusal of a project it does not know (e.g. the domain's ``422`` naming
        ``project_id``), so that the answer is the same as for a project that does not exist."""
        if await self.admits(project_id):
            return
        unknown()
        raise NotFoundError(f"project {project_id} does not exist")  # ``unknown`` is meant to raise already

    async def project_ids(self, engine: AsyncEngine) -> frozenset[uuid.UUID] | None:
        """The ids of the projects in scope (None: every project), for queries that do not take a SQL condition."""
        if self.everything:
            return None
        condition, params = self.where("project_id")
        async with engine.connect() as conn:
            rows = await conn.execute(text(f"SELECT project_id FROM project_scopes WHERE {condition}"), params)
            return frozenset(r.project_id for r in rows)

    async def visible(
        self, engine: AsyncEngine, items: list[dict[str, Any]], key: str = "project_id"
    ) -> list[dict[str, Any]]:
        """The ``items`` (e.g. a person's allocations, answers that span projects) whose ``key`` names a project in
        scope, in their order."""
        if self.everything:
            return items
        ids = await self.project_ids(engine) or frozenset()
        return [i for i in items if _uuid(i.get(key)) in ids]


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


async def caller_scope(request: Request) -> CallerScope:
    return CallerScope(principal_of(request), _directory(request))


InScope = Annotated[CallerScope, Depends(caller_scope)]
"""The one dependency of a list route (``scope: InScope``, then ``scope.where("t.project_id")`` in its query) and
of a command naming a project in its body (the route hands ``scope`` to its handler, which calls
:meth:`CallerScope.require` or :meth:`CallerScope.admits` with the body's ids)."""

TRUSTED = CallerScope(None)
"""The scope of code acting for no caller (the matcher, the demo, handler tests): every project."""


def may_place_project(
    principal: Principal | None,
    *,
    portfolio_id: str | None,
    programme_id: str | None,
    programme_portfolio: str | None,
    manager: str,
) -> str | None:
    """Whether a caller may register a project in ``portfolio_id`` / ``programme_id`` (a programme of
    ``programme_portfolio``) managed by ``manager``; if not, the field that refuses it. A portfolio she does not
    belong to, or a programme neither hers nor of one of her portfolios, is the same to her as one that does not
    exist (``portfolio_id`` / ``programme_id``); a project she would not see once registered (in no portfolio or
    programme of hers and managed by someone else) is refused on ``manager``. None: allowed."""
    if principal is None or sees_everything(principal):
        return None
    if portfolio_id is not None and not member_of_portfolio(principal, portfolio_id):
        return "portfolio_id"
    if (
        programme_id is not None
        and programme_id not in principal.programmes
        and not (programme_portfolio is not None and member_of_portfolio(principal, programme_portfolio))
    ):
        return "programme_id"
    placed = ProjectScope(portfolio_id or programme_portfolio, programme_id, manager)
    return None if in_scope(principal, placed) else "manager"
    if portfolio_id is not None and not member_of_portfolio(principal, portfolio_id):
        return "portfolio_id"
    if (
        programme_id is not None
        and programme_id not in principal.programmes
        and not (programme_portfolio is not None and member_of_portfolio(principal, programme_portfolio))
    ):
        return "programme_id"
    return None


def withhold_rates(request: Request, *docs: dict[str, Any]) -> None:
    """Empty the ``rates`` of each answer (a resource's hourly rates) unless the caller may read rates
    (:func:`may_read_rates`); the answer keeps its shape."""
    if may_read_rates(principal_of(request)):
        return
    for doc in docs:
        if "rates" in doc:
            doc["rates"] = []
