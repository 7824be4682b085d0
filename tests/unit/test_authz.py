"""Object-level rules without a database: who is in a project's scope, the SQL condition a list query takes, and
the one dependency that turns an object addressed by another id into a 404 through its project."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from shared.auth import Principal, Role
from shared.authz import (
    CallerScope,
    ObjectOwner,
    ProjectDirectory,
    ProjectScope,
    in_scope,
    may_place_project,
    object_in_scope,
)
from shared.errors import NotFoundError

A, B = uuid.uuid4(), uuid.uuid4()
SCOPES = {A: ProjectScope("pf-a", "pg-a", "max.manager"), B: ProjectScope("pf-b", None, "mia.manager")}
INVOICES = {"inv-a": A, "inv-b": B}


def who(subject: str, *roles: Role, portfolios: tuple[str, ...] = (), everything: bool = False) -> Principal:
    return Principal(subject, frozenset(roles), frozenset(portfolios), all_portfolios=everything)


class Directory(ProjectDirectory):
    """The service's scopes and object owners, in memory (the real one reads ``project_scopes``)."""

    def __init__(self) -> None:
        pass

    async def scope_of(self, project_id: uuid.UUID) -> ProjectScope | None:
        return SCOPES.get(project_id)

    async def project_of(self, owner: ObjectOwner, value: Any) -> uuid.UUID | None:
        return INVOICES.get(value)


def request(principal: Principal, **path: str) -> Any:
    owners = {"invoice_id": ObjectOwner("SELECT project_id FROM invoices WHERE invoice_id = :id", parse=str)}
    state = SimpleNamespace(project_directory=Directory(), object_owners=owners)
    return SimpleNamespace(
        state=SimpleNamespace(principal=principal), path_params=path, app=SimpleNamespace(state=state)
    )


def test_members_managers_and_unscoped_roles_are_in_scope_and_nobody_else() -> None:
    assert in_scope(who("pat", Role.PMO, portfolios=("pf-a",)), SCOPES[A])
    assert not in_scope(who("pat", Role.PMO, portfolios=("pf-a",)), SCOPES[B])
    assert in_scope(who("MAX.Manager", Role.PMO), SCOPES[A])  # her subject however spelt
    assert in_scope(who("dora", Role.DIRECTOR), SCOPES[B]) and in_scope(who("erp", Role.SERVICE), SCOPES[B])
    assert in_scope(who("office", Role.VIEWER, everything=True), SCOPES[B])
    assert not in_scope(who("nell", Role.VIEWER), SCOPES[A])


def test_a_list_query_takes_a_condition_only_for_scoped_callers() -> None:
    assert CallerScope(who("dora", Role.DIRECTOR)).where() == ("TRUE", {})
    assert CallerScope(None).where() == ("TRUE", {}) and CallerScope(None).portfolios is None
    condition, params = CallerScope(who("pat", Role.PMO, portfolios=("pf-b", "pf-a"))).where("i.project_id")
    assert condition.startswith("i.project_id IN (SELECT project_id FROM project_scopes")
    assert params["authz_portfolios"] == ["pf-a", "pf-b"] and params["authz_manager"]
    assert CallerScope(who("pat", Role.PMO, portfolios=("pf-a",))).portfolios == frozenset({"pf-a"})


async def test_an_object_of_a_project_out_of_scope_is_a_404_naming_the_object() -> None:
    pat = who("pat", Role.FINANCE, portfolios=("pf-a",))
    await object_in_scope(request(pat, invoice_id="inv-a"))  # hers: through
    with pytest.raises(NotFoundError, match="invoice inv-b does not exist"):
        await object_in_scope(request(pat, invoice_id="inv-b"))
    await object_in_scope(request(pat, invoice_id="inv-unknown"))  # unknown: the route answers its own 404
    await object_in_scope(request(who("dora", Role.DIRECTOR), invoice_id="inv-b"))


async def test_a_project_or_portfolio_out_of_scope_is_a_404_whatever_else_the_path_holds() -> None:
    pat = who("pat", Role.PMO, portfolios=("pf-a",))
    with pytest.raises(NotFoundError, match=f"project {B} does not exist"):
        await object_in_scope(request(pat, project_id=str(B), invoice_id="inv-a"))
    with pytest.raises(NotFoundError, match="portfolio pf-b does not exist"):
        await object_in_scope(request(pat, portfolio_id="pf-b"))
    await object_in_scope(request(pat, project_id=str(A)))
    await object_in_scope(request(pat, project_id="not-a-uuid"))  # the route's own validation answers 422


async def test_a_command_naming_a_project_out_of_scope_gets_the_answer_for_an_unknown_project() -> None:
    class Unknown(Exception):
        pass

    def unknown() -> None:
        raise Unknown

    pmo_a = CallerScope(who("pat", Role.PMO, portfolios=("pf-a",)), Directory())
    assert await pmo_a.admits(A)
    await pmo_a.require(A, unknown)  # in scope: nothing raised
    for project in (B, uuid.uuid4()):  # out of scope, or not known to the service: alike
        assert not await pmo_a.admits(project)
        with pytest.raises(Unknown):
            await pmo_a.require(project, unknown)
    with pytest.raises(NotFoundError):  # a refusal that does not raise still refuses
        await pmo_a.require(B, lambda: None)
    director = CallerScope(who("dora", Role.DIRECTOR), Directory())
    assert await director.admits(B) and await director.admits(uuid.uuid4())  # its own rules decide
    assert not await CallerScope(who("pat", Role.PMO, portfolios=("pf-a",))).admits(A)  # no directory: refused


def test_a_project_is_placed_only_where_the_caller_would_see_it() -> None:
    pmo_a = who("pat", Role.PMO, portfolios=("pf-a",))
    manager = who("Max.Manager", Role.PMO)

    def place(principal: Principal, portfolio: str | None, programme: str | None, of: str | None, by: str) -> Any:
        return may_place_project(
            principal, portfolio_id=portfolio, programme_id=programme, programme_portfolio=of, manager=by
        )

    assert place(pmo_a, "pf-a", None, None, "someone") is None
    assert place(pmo_a, None, "pg-x", "pf-a", "someone") is None  # a programme of her portfolio
    assert place(pmo_a, "pf-b", None, None, "someone") == "portfolio_id"
    assert place(pmo_a, None, "pg-b", "pf-b", "pat") == "programme_id"  # even managing it herself
    assert place(pmo_a, None, None, None, "someone") == "manager"  # she would not see it
    assert place(manager, None, None, None, "max.manager") is None  # she manages it
    assert place(who("dora", Role.DIRECTOR), "pf-b", "pg-b", "pf-b", "anyone") is None
