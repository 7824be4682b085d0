"""The OpenAPI documents hold against the running system: a scenario per service (projects, budget, invoicing,
resources, reporting, against the real PostgreSQL and Kafka) where every answer is checked against its operation in
the service's own ``/openapi.json``: the status documented, the body valid against the documented schema (success or
problem), the command headers present (``ETag``, ``Location`` on a create), errors typed by kind. Request bodies
are the documented examples where the scenario allows."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]

from shared.problems import PROBLEM_TYPES
from tests.integration.conftest import service_client
from tests.support import auth_header, eventually
from tests.support.clock import TODAY
from tests.support.projects import milestone_body, register
from tests.support.resources import resource_body

pytestmark = pytest.mark.integration
FIONA = auth_header("fiona.finance", "finance")
PAUL = auth_header("paul.finance", "finance")
MAX = auth_header("max.manager", "director")


class Conformance:
    """Checks every answer of one service against the operation its request matched in the service's OpenAPI."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: Counter[str] = Counter()
        self.routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in document["paths"]
        ]

    def operation(self, method: str, path: str) -> dict[str, Any]:
        # a literal path wins over a template (/exchange-rates vs /exchange-rates/{base}/{quote_currency})
        if path in self.document["paths"]:
            return dict(self.document["paths"][path][method.lower()])
        matches = [template for pattern, template in self.routes if pattern.match(path)]
        assert matches, f"{method} {path} is not documented"
        template = min(matches, key=lambda t: t.count("{"))
        return dict(self.document["paths"][template][method.lower()])

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        op = self.operation(request.method, request.url.path)
        status = str(response.status_code)
        where = f"{op['operationId']} answered {status}"
        assert status in op["responses"], f"{where}: undocumented status ({response.text[:300]})"
        documented = op["responses"][status]
        media = response.headers.get("content-type", "").split(";")[0]
        if status != "204" and media in ("application/json", "application/problem+json"):
            assert media in documented.get("content", {}), f"{where} as {media}: not documented"
            schema = documented["content"][media]["schema"]
            validator = Draft202012Validator({**schema, "components": self.document["components"]})
            errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(response.json())]
            assert errors == [], where
        for name, header in documented.get("headers", {}).items():
            if header.get("required"):
                value = response.headers.get(name)
                assert value is not None, f"{where}: no {name} header"
                assert re.match(header["schema"]["pattern"], value), f"{where}: {name} {value!r}"
        if response.status_code >= 400:
            assert response.json()["type"].startswith(PROBLEM_TYPES), where
        self.checked[op["operationId"]] += 1


System = dict[str, tuple[httpx.AsyncClient, Conformance]]


@pytest.fixture
async def system(infra: Any) -> AsyncIterator[System]:
    """The five services in process, each client checking every answer against its service's OpenAPI."""
    tokens = {
        "projects": auth_header("dora.director", "director"),
        "budget": FIONA,
        "invoicing": FIONA,
        "resources": auth_header("rhea.rm", "resource-manager"),
        "reporting": auth_header("dora.director", "director"),
    }
    async with AsyncExitStack() as stack:
        system: System = {}
        for service, token in tokens.items():
            client = await service_client(stack, service, infra, token)
            check = Conformance((await client.get("/openapi.json")).json())
            client.event_hooks["response"].append(check)
            system[service] = (client, check)
        yield system


def example(client_and_check: tuple[httpx.AsyncClient, Conformance], operation_id: str) -> dict[str, Any]:
    """The documented example body of an operation."""
    document = client_and_check[1].document
    for item in document["paths"].values():
        for op in item.values():
            if op.get("operationId") == operation_id:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                return dict(document["components"]["schemas"][ref]["examples"][0])
    raise AssertionError(f"no operation {operation_id}")


async def known_project(system: System) -> str:
    """A project registered on the projects service (its answers checked too), with a milestone."""
    p = system["projects"][0]
    project = await register(p, planned_start=str(TODAY - timedelta(30)), planned_end=str(TODAY + timedelta(300)))
    pid = str(project["project_id"])
    milestone = await p.post(f"/projects/{pid}/milestones", json=milestone_body(due_date=str(TODAY + timedelta(60))))
    assert milestone.status_code == 201 and milestone.headers["location"]
    return pid


def all_checked(system: System, service: str, at_least: int) -> None:
    checked = system[service][1].checked
    assert sum(checked.values()) >= at_least, checked


async def test_projects_answers_are_the_documented_ones(system: System) -> None:
    projects = system["projects"]
    p = projects[0]
    pid = await known_project(system)
    kpi = await p.post(f"/projects/{pid}/kpis", json=example(projects, "defineKpi") | {"review_date": str(TODAY)})
    assert kpi.status_code == 201, kpi.text
    partner = await p.post(f"/projects/{pid}/partners", json=example(projects, "registerPartner"))
    assert partner.status_code == 201, partner.text
    stale = await p.post(f"/projects/{pid}/approve", json={}, headers={"If-Match": '"1"'})
    assert stale.status_code in (409, 412) and stale.json()["type"] != "about:blank"
    assert (await p.get(f"/projects/{uuid.uuid4()}")).status_code == 404
    assert (await p.get(f"/projects/{pid}")).status_code == 200
    assert (await p.get("/projects")).status_code == 200
    all_checked(system, "projects", 8)


async def test_budget_answers_are_the_documented_ones(system: System) -> None:
    budget_svc = system["budget"]
    budget = budget_svc[0]
    pid = await known_project(system)

    async def baselined() -> httpx.Response:  # once the budget service has consumed the registration
        response = await budget.post(f"/budgets/{pid}/baseline", json=example(budget_svc, "baselineBudget"))
        assert response.status_code == 201, response.text
        return response

    await eventually(baselined, timeout=90)
    change = await budget.post(f"/budgets/{pid}/change-requests", json=example(budget_svc, "requestBudgetChange"))
    assert change.status_code == 201, change.text
    approved = await budget.post(
        f"/budgets/{pid}/change-requests/{change.json()['change_id']}/approve", json={}, headers=PAUL
    )
    assert approved.status_code == 200, approved.text
    source = await budget.post(f"/budgets/{pid}/funding-sources", json=example(budget_svc, "addFundingSource"))
    assert source.status_code == 201, source.text
    tranche = await budget.post(
        f"/budgets/{pid}/funding-sources/{source.json()['source_id']}/tranches",
        json=example(budget_svc, "secureFunding") | {"available_on": str(TODAY)},
    )
    assert tranche.status_code == 201, tranche.text
    commitment = await budget.post(
        f"/budgets/{pid}/commitments",
        json={k: v for k, v in example(budget_svc, "createCommitment").items() if k != "milestone_id"},
    )
    assert commitment.status_code == 201, commitment.text
    assert (await budget.get(f"/budgets/{pid}")).status_code == 200
    assert (await budget.get(f"/budgets/{pid}/commitments")).status_code == 200
    assert (await budget.post(f"/budgets/{pid}/commitments", json={"kind": "nonsense"})).status_code == 422
    all_checked(system, "budget", 9)


async def test_invoicing_answers_are_the_documented_ones(system: System) -> None:
    invoicing_svc = system["invoicing"]
    invoicing = invoicing_svc[0]
    pid = await known_project(system)
    tolerance = await invoicing.put(
        f"/projects/{pid}/invoicing-tolerance", json=example(invoicing_svc, "setInvoicingTolerance")
    )
    assert tolerance.status_code == 200, tolerance.text

    async def claimed() -> httpx.Response:  # once the invoicing service has consumed the registration
        body = example(invoicing_svc, "claimExpense") | {"incurred_on": str(TODAY)}
        body.pop("milestone_id", None)
        response = await invoicing.post(f"/projects/{pid}/expenses", json=body, headers=MAX)
        assert response.status_code == 201, response.text
        return response

    expense = await eventually(claimed, timeout=90)
    assert (await invoicing.get(f"/projects/{pid}/expenses/{expense.json()['expense_id']}")).status_code == 200
    assert (await invoicing.get("/invoices", params={"project_id": pid})).status_code == 200
    assert (await invoicing.post(f"/invoices/{uuid.uuid4()}/approve", json={})).status_code == 404
    all_checked(system, "invoicing", 5)


async def test_resources_answers_are_the_documented_ones(system: System) -> None:
    resources = system["resources"][0]
    resource = await resources.post("/resources", json=resource_body())
    assert resource.status_code == 201, resource.text
    assert (await resources.get(f"/resources/{resource.json()['resource_id']}")).status_code == 200
    assert (await resources.get("/resources")).status_code == 200
    assert (await resources.post("/resources", json=resource_body(kind="robot"))).status_code == 422
    all_checked(system, "resources", 4)


async def test_reporting_answers_are_the_documented_ones(system: System) -> None:
    reporting_svc = system["reporting"]
    reporting = reporting_svc[0]
    portfolio = f"pf-{uuid.uuid4().hex[:8]}"
    thresholds = await reporting.put(  # stricter than the defaults: in force at once
        f"/portfolios/{portfolio}/alert-thresholds", json=example(reporting_svc, "setAlertThresholds")
    )
    assert thresholds.status_code == 200, thresholds.text
    assert (await reporting.get(f"/portfolios/{portfolio}/alert-thresholds")).status_code == 200
    assert (await reporting.get("/alerts")).status_code == 200
    assert (await reporting.get("/reports/utilisation", params={"weeks": 2})).status_code == 200
    assert (await reporting.get("/reports/raid")).status_code == 200
    assert (await reporting.get(f"/reports/projects/{uuid.uuid4()}")).status_code == 404
    all_checked(system, "reporting", 6)


# --- a client generated from each document (openapi-python-client) drives the running service ---------------


def generated_client(document: dict[str, Any], service: str, where: Path) -> Any:
    """The package openapi-python-client generates from ``document``, imported; every operation must come out with
    its answer types (the generator warns, and leaves them out, when it cannot make sense of a schema)."""
    generator = Path(sys.executable).with_name("openapi-python-client")
    if not generator.exists():
        pytest.skip("openapi-python-client is not installed (the dev extra has it)")
    spec = where / f"{service}.json"
    spec.write_text(json.dumps(document))
    output = where / f"{service}_client"
    run = subprocess.run(
        [str(generator), "generate", "--path", str(spec), "--meta", "none", "--output-path", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARNING" not in run.stdout + run.stderr, run.stdout + run.stderr
    if str(where) not in sys.path:
        sys.path.insert(0, str(where))
    for module in ("models", "types"):
        importlib.import_module(f"{service}_client.{module}")
    return importlib.import_module(f"{service}_client")


def connected(package: Any, client: httpx.AsyncClient, token: dict[str, str]) -> Any:
    """The generated client, talking to the in-process service with ``token``."""
    return package.AuthenticatedClient(
        base_url=str(client.base_url),
        token=token["Authorization"].removeprefix("Bearer "),
        httpx_args={"transport": client._transport},
    )


def call(package: Any, operation: str) -> Any:
    """The generated module of one operation (``createProject`` -> ``api/<tag>/create_project.py``)."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
    for module in (Path(package.__file__).parent / "api").glob(f"*/{snake}.py"):
        return importlib.import_module(f"{package.__name__}.api.{module.parent.name}.{snake}")
    raise AssertionError(f"no generated module for {operation}")


async def test_clients_generated_from_the_documents_drive_every_service(system: System, tmp_path: Path) -> None:
    clients = {service: generated_client(check.document, service, tmp_path) for service, (_, check) in system.items()}
    try:
        # projects: register a project as the PMO, read it back typed
        projects = clients["projects"]
        pmo = connected(projects, system["projects"][0], auth_header("pat.pmo", "pmo"))
        body = projects.models.RegisterProjectRequest.from_dict(
            example(system["projects"], "createProject") | {"code": f"P-{uuid.uuid4().hex[:8]}"}
        )
        body.portfolio_id = projects.types.UNSET
        body.programme_id = projects.types.UNSET
        created = await call(projects, "createProject").asyncio_detailed(client=pmo, body=body)
        assert created.status_code == 201, created.content
        assert isinstance(created.parsed, projects.models.ProjectView) and created.parsed.status == "proposed"
        read = await call(projects, "getProject").asyncio_detailed(created.parsed.project_id, client=pmo)
        assert read.parsed.code == body.code and read.headers["etag"] == '"1"'

        # budget: a project's budget baselined once the budget service knows the project, the answer typed
        budget = clients["budget"]
        finance = connected(budget, system["budget"][0], FIONA)
        pid = uuid.UUID(await known_project(system))
        baseline = budget.models.BaselineRequest.from_dict(example(system["budget"], "baselineBudget"))

        async def baselined() -> Any:
            answer = await call(budget, "baselineBudget").asyncio_detailed(pid, client=finance, body=baseline)
            assert answer.status_code == 201, answer.content
            return answer

        answer = await eventually(baselined, timeout=90)
        assert isinstance(answer.parsed, budget.models.BudgetView) and answer.parsed.bac.amount == "120000.00"

        # budget: an exchange rate recorded, read in force (and inverted) and listed, every answer typed (the path
        # parameter is quote_currency: one named quote would shadow urllib's quote in the generated code)
        pair = ("CHF", "SEK")
        rate_body = budget.models.ExchangeRateBody.from_dict
        recorded = await call(budget, "recordExchangeRate").asyncio_detailed(
            *pair,
            TODAY,
            client=finance,
            body=rate_body({"rate": "11.75", "source": "ECB"}),
        )
        assert recorded.status_code == 200, recorded.content
        assert isinstance(recorded.parsed, budget.models.ExchangeRateRecordedView) and recorded.parsed.rate == "11.75"
        in_force = await call(budget, "getExchangeRateInForce").asyncio_detailed(
            client=finance,
            base=budget.models.GetExchangeRateInForceBase(pair[1]),
            quote=budget.models.GetExchangeRateInForceQuote(pair[0]),
            on=TODAY,
        )
        assert isinstance(in_force.parsed, budget.models.ExchangeRateInForceView), in_force.content
        assert in_force.parsed.inverse_of.rate == "11.75" and in_force.parsed.rate.startswith("0.0851063829787")
        history = await call(budget, "listExchangeRates").asyncio_detailed(
            budget.models.ListExchangeRatesBase(pair[0]),
            budget.models.ListExchangeRatesQuoteCurrency(pair[1]),
            client=finance,
        )
        assert history.status_code == 200, history.content
        assert [(r.rate, r.effective_on) for r in history.parsed.items][:1] == [("11.75", TODAY)]
        same = await call(budget, "recordExchangeRate").asyncio_detailed(
            pair[0],
            pair[0],
            TODAY,
            client=finance,
            body=rate_body({"rate": "1", "source": "x"}),
        )
        assert same.status_code == 422 and [e.field for e in same.parsed.errors] == ["quote_currency"], same.content

        # invoicing: a project's tolerance set, the invoices listed (a typed page)
        invoicing = clients["invoicing"]
        finance = connected(invoicing, system["invoicing"][0], FIONA)
        tolerance = await call(invoicing, "setInvoicingTolerance").asyncio_detailed(
            uuid.uuid4(), client=finance, body=invoicing.models.ToleranceBody.from_dict({"tolerance": "0.05"})
        )
        assert tolerance.status_code == 200 and tolerance.parsed.tolerance == "0.05", tolerance.content
        page = await call(invoicing, "listInvoices").asyncio_detailed(client=finance)
        assert isinstance(page.parsed, invoicing.models.InvoicePage) and page.parsed.total == 0

        # resources: a person registered and read back
        resources = clients["resources"]
        manager = connected(resources, system["resources"][0], auth_header("rhea.rm", "resource-manager"))
        person = await call(resources, "registerResource").asyncio_detailed(
            client=manager, body=resources.models.RegisterResourceRequest.from_dict(resource_body())
        )
        assert person.status_code == 201, person.content
        again = await call(resources, "getResource").asyncio_detailed(person.parsed.resource_id, client=manager)
        assert again.status_code == 200 and again.parsed.resource_id == person.parsed.resource_id
        assert [c.hours for c in again.parsed.capacities] == ["40"], again.content  # typed, not a dict

        # reporting: a portfolio's thresholds set and read; a refused call parses as a Problem
        reporting = clients["reporting"]
        director = connected(reporting, system["reporting"][0], auth_header("dora.director", "director"))
        portfolio = f"pf-{uuid.uuid4().hex[:8]}"
        set_ = await call(reporting, "setAlertThresholds").asyncio_detailed(
            portfolio,
            client=director,
            body=reporting.models.ThresholdsBody.from_dict(example(system["reporting"], "setAlertThresholds")),
        )
        assert isinstance(set_.parsed, reporting.models.ThresholdsView), set_.content
        got = await call(reporting, "getAlertThresholds").asyncio_detailed(portfolio, client=director)
        assert got.status_code == 200 and isinstance(got.parsed, reporting.models.ThresholdsRead), got.content
        assert got.parsed.configured and "cpi_below" in got.parsed.thresholds.additional_properties
        alerts = await call(reporting, "listAlerts").asyncio_detailed(client=director, portfolio_id=portfolio)
        assert alerts.status_code == 200 and alerts.parsed.total == 0, alerts.content
        missing = await call(reporting, "getProjectReport").asyncio_detailed(uuid.uuid4(), client=director)
        assert missing.status_code == 404 and isinstance(missing.parsed, reporting.models.Problem)
        assert missing.parsed.type_.endswith("/not-found")
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] in {f"{s}_client" for s in clients}]:
            del sys.modules[name]
