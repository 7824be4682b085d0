"""HTTP routes of the notifications: webhook subscriptions with their delivery logs (PMO and directors), and each
person's alert e-mail preferences with her own delivery log. Thin routes over
:mod:`reporting.notifications.handlers`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reporting.notifications import handlers, store
from reporting.notifications.settings import NotificationSettings
from shared.auth import Principal
from shared.authz import principal_of
from shared.bounds import RequestBody
from shared.errors import InvalidCommandError, PreconditionFailedError
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Command, Paging

router = APIRouter(tags=["notifications"], responses=COMMAND_RESPONSES)

SUBSCRIPTIONS = "/webhooks/subscriptions"
EventType = Annotated[str, Field(min_length=5, max_length=120, pattern=r"^pmo\.[a-z]+\.[a-z0-9-]+$")]
AlertRule = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]
Status = Literal["pending", "delivered", "dead", "cancelled"]


class SubscriptionBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://erp.example.com/hooks/pmo",
                    "event_types": ["pmo.projects.milestone-reached"],
                    "alert_rules": ["underfunding-risk"],
                    "portfolio_id": "digital",
                    "description": "ERP: milestones and funding risks of the digital portfolio",
                }
            ]
        }
    )

    url: Annotated[str, Field(min_length=10, max_length=2000)]
    event_types: Annotated[list[EventType], Field(max_length=100)] = []
    alert_rules: Annotated[list[AlertRule], Field(max_length=50)] = []
    portfolio_id: Annotated[str | None, Field(max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")] = None
    description: Annotated[str, Field(max_length=500)] = ""


class SubscriptionView(BaseModel):
    subscription_id: str
    url: str
    event_types: list[str]
    alert_rules: list[str]
    portfolio_id: str | None
    description: str
    created_by: str
    created_at: str


class CreatedSubscriptionView(SubscriptionView):
    secret: str = Field(description="whsec_ + base64: signs every delivery (Standard Webhooks); shown only here")


class SubscriptionPage(BaseModel):
    items: list[SubscriptionView]
    total: int
    limit: int
    offset: int


class AttemptView(BaseModel):
    attempt: int
    at: str
    status_code: int | None
    latency_ms: int
    error: str | None


class DeliveryView(BaseModel):
    delivery_id: str
    channel: Literal["webhook", "email"]
    event_id: str
    event_type: str
    project: str = Field(description="the event's key (its project): deliveries of one project leave in order")
    status: Status
    attempts: int
    next_attempt_at: str | None
    created_at: str
    finished_at: str | None
    last_error: str | None
    attempt_log: list[AttemptView]


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
    total: int
    limit: int
    offset: int


class PreferencesBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "dora.director@example.com",
                    "alert_rules": ["underfunding-risk", "cpi-below-threshold"],
                    "severities": ["critical"],
                    "on_cleared": True,
                }
            ]
        }
    )

    email: Annotated[str, Field(min_length=3, max_length=254)]
    alert_rules: Annotated[list[AlertRule], Field(max_length=50, description="none: every rule")] = []
    severities: Annotated[list[Literal["warning", "critical"]], Field(min_length=1, max_length=2)] = [
        "warning",
        "critical",
    ]
    on_cleared: bool = False


class PreferencesView(BaseModel):
    person: str
    email: str
    alert_rules: list[str]
    severities: list[str]
    on_cleared: bool
    updated_at: str


SubscriptionId = Annotated[uuid.UUID, Path()]
DeliveryId = Annotated[uuid.UUID, Path()]


def _settings(rt: Any) -> NotificationSettings:
    return rt.settings  # type: ignore[no-any-return]


def _principal(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:  # every route here sits behind the bearer token
        raise InvalidCommandError("a caller is required", field="Authorization")
    return principal


def _actor(request: Request) -> str:
    return _principal(request).subject


def _now() -> datetime:
    return datetime.now(UTC)


@router.post(
    SUBSCRIPTIONS, operation_id="createWebhookSubscription", status_code=201, response_model=CreatedSubscriptionView
)
async def create_subscription(body: SubscriptionBody, request: Request, ctx: Command, rt: Runtime) -> JSONResponse:
    """Subscribe a URL to event types and/or alert rules, optionally of one portfolio's projects. The answer holds
    the signing secret, shown this once. With an ``Idempotency-Key``, a retry of the same request by the same caller
    returns the first answer (``Idempotent-Replayed: true``, the same subscription and secret) and creates nothing;
    the key with another body is 422. ``If-Match`` is refused (412): the subscription does not exist yet."""
    if ctx.if_match is not None or ctx.if_match_any:
        raise PreconditionFailedError("If-Match: a subscription being created has no version to match", actual=0)
    outcome = await handlers.create_subscription(
        rt.executor,
        ctx,
        _settings(rt),
        url=body.url,
        event_types=body.event_types,
        alert_rules=body.alert_rules,
        portfolio_id=body.portfolio_id,
        description=body.description,
        principal=_principal(request),
        now=_now(),
    )
    headers = {"Location": f"{SUBSCRIPTIONS}/{outcome.body['subscription_id']}"}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=headers)


@router.get(SUBSCRIPTIONS, operation_id="listWebhookSubscriptions", response_model=SubscriptionPage)
async def list_subscriptions(request: Request, rt: Runtime, paging: Paging) -> dict[str, Any]:
    """The live subscriptions, oldest first (never their secrets); a caller who does not see every portfolio sees
    those filtered to one of hers."""
    seen = handlers.visible_portfolios(principal_of(request))
    total, rows = await store.subscriptions_page(rt.engine, paging.limit, paging.offset, seen)
    items = [handlers.subscription_view(r) for r in rows]
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


@router.get(
    f"{SUBSCRIPTIONS}/{{subscription_id}}", operation_id="getWebhookSubscription", response_model=SubscriptionView
)
async def get_subscription(subscription_id: SubscriptionId, request: Request, rt: Runtime) -> dict[str, Any]:
    return handlers.subscription_view(await handlers.subscription(rt.engine, subscription_id, principal_of(request)))


@router.delete(f"{SUBSCRIPTIONS}/{{subscription_id}}", operation_id="deleteWebhookSubscription", status_code=204)
async def delete_subscription(subscription_id: SubscriptionId, request: Request, rt: Runtime) -> Response:
    """Retire a subscription: nothing more is sent to it, its pending deliveries are cancelled, its log kept."""
    await handlers.delete_subscription(rt.engine, subscription_id, _principal(request), _now())
    return Response(status_code=204)


@router.get(
    f"{SUBSCRIPTIONS}/{{subscription_id}}/deliveries",
    operation_id="listWebhookDeliveries",
    response_model=DeliveryPage,
)
async def list_deliveries(
    subscription_id: SubscriptionId,
    request: Request,
    rt: Runtime,
    paging: Paging,
    status: Annotated[Status | None, Query()] = None,
) -> dict[str, Any]:
    """A subscription's deliveries, newest first, each with its attempts (status, latency, error); a retired
    subscription's too, until retention removes them."""
    await handlers.subscription(rt.engine, subscription_id, principal_of(request), retired=True)
    total, rows = await store.deliveries_page(rt.engine, str(subscription_id), status, paging.limit, paging.offset)
    items = [handlers.delivery_view(r) for r in rows]
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


@router.post(
    f"{SUBSCRIPTIONS}/{{subscription_id}}/deliveries/{{delivery_id}}/redeliver",
    operation_id="redeliverWebhook",
    status_code=202,
    response_model=DeliveryView,
)
async def redeliver(
    subscription_id: SubscriptionId, delivery_id: DeliveryId, request: Request, rt: Runtime
) -> JSONResponse:
    """Send a delivered or dead delivery again, with a new round of attempts (same ``webhook-id``: a receiver that
    kept it sees a repeat)."""
    await handlers.subscription(rt.engine, subscription_id, principal_of(request))
    view = await handlers.redeliver(rt.engine, str(subscription_id), delivery_id, _now())
    return JSONResponse(view, status_code=202)


@router.put("/notifications/preferences", operation_id="putNotificationPreferences", response_model=PreferencesView)
async def put_preferences(body: PreferencesBody, request: Request, rt: Runtime) -> dict[str, Any]:
    """The caller's alert e-mails: which rules (none: all) and severities, to which address, and whether a
    cleared alert is mailed too. Alerts of projects outside her scope (as her token has it now) are never sent."""
    principal = principal_of(request)
    if principal is None:
        raise InvalidCommandError("a caller is required", field="Authorization")
    return await handlers.save_preferences(
        rt.engine,
        _settings(rt),
        principal,
        email=body.email,
        alert_rules=body.alert_rules,
        severities=body.severities,
        on_cleared=body.on_cleared,
        now=_now(),
    )


@router.get("/notifications/preferences", operation_id="getNotificationPreferences", response_model=PreferencesView)
async def get_preferences(request: Request, rt: Runtime) -> dict[str, Any]:
    return await handlers.preferences(rt.engine, _actor(request))


@router.delete("/notifications/preferences", operation_id="deleteNotificationPreferences", status_code=204)
async def delete_preferences(request: Request, rt: Runtime) -> Response:
    """No more alert e-mails for the caller; her pending ones are cancelled."""
    await store.delete_preferences(rt.engine, _actor(request), _now())
    return Response(status_code=204)


@router.get("/notifications/deliveries", operation_id="listNotificationDeliveries", response_model=DeliveryPage)
async def my_deliveries(
    request: Request, rt: Runtime, paging: Paging, status: Annotated[Status | None, Query()] = None
) -> dict[str, Any]:
    """The caller's alert e-mails, newest first, each with its attempts."""
    total, rows = await store.deliveries_page(
        rt.engine, f"email:{_actor(request)}", status, paging.limit, paging.offset
    )
    items = [handlers.delivery_view(r) for r in rows]
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


@router.post(
    "/notifications/deliveries/{delivery_id}/redeliver",
    operation_id="redeliverNotification",
    status_code=202,
    response_model=DeliveryView,
)
async def redeliver_mine(delivery_id: DeliveryId, request: Request, rt: Runtime) -> JSONResponse:
    view = await handlers.redeliver(rt.engine, f"email:{_actor(request)}", delivery_id, _now())
    return JSONResponse(view, status_code=202)
