"""The background sender of webhooks and e-mails (on every reporting replica; apart from the consumers and the
commands, so a slow or dead receiver holds up only its own queue).

Each pass claims due deliveries (:func:`reporting.notifications.store.claim`: the head of each recipient's queue per
project, so a project's messages leave in order) up to the free places of ``PMO_NOTIFICATION_CONCURRENCY`` and sends
each in a task of its own, bounded by ``PMO_WEBHOOK_TIMEOUT_SECONDS`` (``PMO_SMTP_TIMEOUT_SECONDS``). A 2xx answer
(an e-mail the server accepted) delivers it; anything else (another status, a timeout, a refused address, a
connection error) is a failed attempt, retried after :func:`backoff`, until ``PMO_WEBHOOK_MAX_ATTEMPTS`` attempts of
the round: then it is dead (a redeliver starts a new round). Redirects are not followed (a 3xx fails: it could lead
inside). Every attempt is logged with its status, latency and error. A send cut by a stop gives its claim back (the
next start tries it at once; after a crash, when its lease ends). Finished deliveries older than
``PMO_NOTIFICATION_RETENTION_DAYS`` are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import Counter

from reporting.notifications import messages, store
from reporting.notifications.addresses import Policy, TargetRefusedError, parse_target, resolve
from reporting.notifications.projection import WAKERS
from reporting.notifications.settings import NotificationSettings
from reporting.notifications.signing import sign
from shared.metrics import gauge
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

ATTEMPTS = Counter(
    "pmo_notification_attempts_total", "Delivery attempts of webhooks and e-mails", ["channel", "outcome"]
)
DELIVERIES = gauge(
    "pmo_notification_deliveries",
    "Deliveries pending, retrying (after a failed attempt) or dead",
    ["channel", "status"],
)
HOUSEKEEPING_SECONDS = 10.0
MAX_ERROR = 500
USER_AGENT = "pmo-webhooks/1"


def backoff(attempt: int, first: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the attempt after failed attempt number ``attempt`` (1-based): ``first`` doubling, at most
    ``cap``, with jitter (a random point in the upper half: receivers that failed together do not retry together)."""
    delay = min(cap, first * float(2 ** min(attempt - 1, 40)))
    jitter: float = (rng or random).uniform(0, delay / 2)
    return delay / 2 + jitter


@dataclass(frozen=True)
class Result:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


async def send_webhook(client: httpx.AsyncClient, claimed: store.Claimed, policy: Policy, timeout: float) -> Result:
    """POST the payload signed with the subscription's secret to the address its host resolves to now."""
    if claimed.secret is None:
        return Result(None, "the subscription was deleted")
    try:
        target = parse_target(claimed.target, policy)
        address = await resolve(target, policy)
    except TargetRefusedError as exc:
        return Result(None, f"target refused: {exc}")
    timestamp = int(time.time())
    body = claimed.payload.encode()
    default_port = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    headers = {
        "Host": host if target.port == default_port else f"{host}:{target.port}",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": str(claimed.delivery_id),
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(claimed.secret, str(claimed.delivery_id), timestamp, body),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    request = client.build_request("POST", target.url_at(address), content=body, headers=headers, extensions=extensions)
    try:
        async with asyncio.timeout(timeout):
            response = await client.send(request, stream=True)
            await response.aclose()  # the answer's body is not read: a receiver cannot make us hold it
    except TimeoutError:
        return Result(None, f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return Result(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR])
    if 200 <= response.status_code < 300:
        return Result(response.status_code, None)
    return Result(response.status_code, f"answered {response.status_code}")


def _smtp_send(settings: NotificationSettings, message: Any) -> None:
    assert settings.smtp_host is not None  # only called when e-mail is configured
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user is not None and settings.smtp_password is not None:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


async def send_email(settings: NotificationSettings, claimed: store.Claimed, now: datetime) -> Result:
    """Hand the e-mail to the operator's SMTP server (in a thread: the standard library's client is blocking)."""
    if settings.smtp_host is None or settings.smtp_from is None:
        return Result(None, "no SMTP server is configured (PMO_SMTP_HOST)")
    message = messages.mime(claimed.payload, settings.smtp_from, str(claimed.delivery_id), now)
    try:
        async with asyncio.timeout(settings.smtp_timeout_seconds * 3):
            await asyncio.to_thread(_smtp_send, settings, message)
    except TimeoutError:
        return Result(None, "the SMTP server did not answer in time")
    except smtplib.SMTPResponseException as exc:
        return Result(exc.smtp_code, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:MAX_ERROR])
    except (smtplib.SMTPException, OSError) as exc:
        return Result(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR])
    return Result(250, None)


class Sender:
    """One replica's sender: claims, sends, records."""

    def __init__(self, rt: ServiceRuntime, client: httpx.AsyncClient) -> None:
        self.rt = rt
        self.settings: NotificationSettings = rt.settings  # type: ignore[assignment]
        self.client = client
        self.policy = Policy(self.settings.webhook_allow_loopback, self.settings.webhook_allow_private)
        self.running: dict[asyncio.Task[None], store.Claimed] = {}
        timeout = max(self.settings.webhook_timeout_seconds, self.settings.smtp_timeout_seconds * 3)
        self.lease = timedelta(seconds=timeout + 10)  # a send never outlives it (each is bounded by a timeout)

    async def attempt(self, claimed: store.Claimed) -> None:
        started = time.monotonic()
        now = datetime.now(UTC)
        if claimed.channel == "email":
            result = await send_email(self.settings, claimed, now)
        else:
            result = await send_webhook(self.client, claimed, self.policy, self.settings.webhook_timeout_seconds)
        latency = int((time.monotonic() - started) * 1000)
        done = datetime.now(UTC)
        if result.ok:
            outcome, next_at = "delivered", None
        else:
            made = claimed.attempts + 1 - claimed.round_start
            if made >= self.settings.webhook_max_attempts:
                outcome, next_at = "dead", None
            else:
                wait = backoff(made, self.settings.webhook_backoff_seconds, self.settings.webhook_backoff_max_seconds)
                outcome, next_at = "pending", done + timedelta(seconds=wait)
        ATTEMPTS.labels(claimed.channel, "failed" if outcome == "pending" else outcome).inc()
        if outcome == "dead":
            log.warning(
                "delivery %s is dead after %s attempts: %s", claimed.delivery_id, claimed.attempts + 1, result.error
            )
        await store.record_attempt(
            self.rt.engine,
            claimed.delivery_id,
            at=now,
            status_code=result.status_code,
            latency_ms=latency,
            error=result.error,
            outcome=outcome,
            next_attempt_at=next_at,
        )

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.running.pop(task, None)

    async def _attempt_logged(self, claimed: store.Claimed) -> None:
        try:
            await self.attempt(claimed)
        except Exception:  # its claim expires and the delivery is tried again
            log.exception("sending delivery %s failed", claimed.delivery_id)

    async def pass_once(self) -> int:
        """Claim and start what is due, up to the free places; the number started."""
        free = self.settings.notification_concurrency - len(self.running)
        if free <= 0:
            return 0
        claimed = await store.claim(self.rt.engine, free, self.lease, datetime.now(UTC))
        for c in claimed:
            task = asyncio.create_task(self._attempt_logged(c))
            self.running[task] = c
            task.add_done_callback(self._finished)
        return len(claimed)

    async def housekeeping(self) -> None:
        before = datetime.now(UTC) - timedelta(days=self.settings.notification_retention_days)
        await store.forget_finished(self.rt.engine, before)
        found = await store.counts(self.rt.engine)
        for channel in ("webhook", "email"):
            for status in ("pending", "retrying", "dead"):
                DELIVERIES.labels(channel, status).set(found.get((channel, status), 0))


async def sender(rt: ServiceRuntime, stop: asyncio.Event) -> None:
    """Background task: send due deliveries until ``stop``; in-flight sends get a moment to finish, then are
    cancelled (their claims expire and they are sent again: at least once)."""
    settings: NotificationSettings = rt.settings  # type: ignore[assignment]
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=settings.notification_concurrency * 2),
    ) as client:
        worker = Sender(rt, client)
        last_housekeeping = 0.0
        woken = asyncio.Event()
        WAKERS.add(woken.set)
        poll = settings.notification_poll_seconds
        idle = max(poll, settings.notification_idle_poll_seconds)
        waiting_for = poll
        try:
            while not stop.is_set():
                started = 0
                woken.clear()  # a batch committed from here on wakes the next look
                try:
                    started = await worker.pass_once()
                    if time.monotonic() - last_housekeeping >= HOUSEKEEPING_SECONDS:
                        await worker.housekeeping()
                        last_housekeeping = time.monotonic()
                except Exception:
                    log.exception("notification pass failed; retrying")
                # Nothing started and nothing in flight: the wait doubles up to the idle poll (a retry not yet due
                # is found within twice its remaining delay); a new delivery written here wakes the sender at once.
                busy = started or worker.running
                waiting_for = poll if busy else min(idle, waiting_for * 2)
                waiting = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(woken.wait()), *worker.running]
                timeout = 0.0 if started and len(worker.running) < settings.notification_concurrency else None
                await asyncio.wait(
                    waiting,
                    timeout=waiting_for if timeout is None else 0.01,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiting[0].cancel()
                waiting[1].cancel()
        finally:
            WAKERS.discard(woken.set)
        if worker.running:
            await asyncio.wait(list(worker.running), timeout=2.0)
            cut = [claimed.delivery_id for claimed in worker.running.values()]
            for task in list(worker.running):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*worker.running, return_exceptions=True)
            with contextlib.suppress(Exception):  # else they wait for their lease: tried again at the next start
                await store.release(rt.engine, cut)
