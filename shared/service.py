"""The composition every service shares: engine, event store, command executor, relay and consumers.

A service describes itself with a :class:`ServiceSpec`; :func:`build_app` turns it into a FastAPI app whose
lifespan migrates the schema, creates the topics, and runs the relay and the consumers as background tasks.
Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import authz, logs, migrations, relay_wake, tracing, wakeups, workers
from shared import relay_held as relay_held_module
from shared.auth import AccessPolicy, Role, TokenVerifier
from shared.commands import CommandExecutor, Projector
from shared.consumer import Projection, ProjectionConsumer
from shared.db import create_engine, ping
from shared.dead_letters import api as dead_letters_api
from shared.events import EventRegistry
from shared.eventstore import EventStore
from shared.kafka import DLQ_TOPIC, new_producer, prepare_topics
from shared.recovery.guard import Admission
from shared.relay import Relay
from shared.relay_wake import Notifier
from shared.settings import ServiceSettings
from shared.web import create_app

log = logging.getLogger(__name__)

BackgroundTask = Callable[["ServiceRuntime", asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class ServiceSpec:
    """What makes one service: its name, topic, event contracts, tables, routes and read models."""

    name: str
    topic: str
    version: str
    description: str
    registry: EventRegistry
    routers: Sequence[APIRouter] = ()
    public_routers: Sequence[APIRouter] = ()
    """Routes without a bearer token (e.g. the dashboard's sign-in page); keep them few."""
    ddl: Sequence[str] = ()
    projector: Projector | None = None
    projections: Sequence[Projection] = ()
    extra_topics: Sequence[str] = field(default_factory=tuple)
    access: AccessPolicy = field(default_factory=lambda: AccessPolicy(writers=frozenset({Role.SERVICE})))
    session_cookie: bool = False
    """Reads may authenticate with the dashboard's session cookie (the service that serves the dashboard only)."""
    object_owners: authz.ObjectOwners = field(default_factory=dict)
    """Per path parameter naming an object of a project (``invoice_id``, ...), how to find its project: the object
    is then out of reach, a 404, for a caller outside that project's scope (:mod:`shared.authz`)."""
    background: Sequence[BackgroundTask] = ()
    """Long-running tasks started with the service (e.g. a periodic evaluator); each gets the runtime and the
    stop event, must return soon after the event is set, and should survive transient failures itself."""
    woken_by_commands: Sequence[str] = ()
    """Channel prefixes (:func:`shared.wakeups.channel_sql`) of background tasks a command's commit wakes in their
    own process (an after-commit hook): a worker that does not run them sends ``NOTIFY`` instead."""


class ServiceRuntime:
    """The live parts of a service process; one per app."""

    def __init__(self, spec: ServiceSpec, settings: ServiceSettings) -> None:
        self.spec = spec
        self.settings = settings
        self.schema = settings.db_schema or spec.name
        self.kafka = settings.kafka(spec.name)
        self.engine: AsyncEngine = create_engine(
            settings.database_url,
            self.schema,
            pool_size=settings.db_pool_size,
            ssl_mode=settings.database_ssl_mode,
            ssl_root_cert=settings.database_ssl_root_cert,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            application_name=settings.application_name(self.schema),
        )
        self.store = EventStore(spec.registry)
        self.executor = CommandExecutor(
            self.engine,
            self.store,
            projector=spec.projector,
            idempotency_retention=timedelta(hours=settings.idempotency_retention_hours),
        )
        self.relay = Relay(
            self.engine,
            service=spec.name,
            topic=spec.topic,
            kafka=self.kafka,
            schema=self.schema,
            poll_interval=settings.relay_poll_interval,
            delivery_timeout=settings.relay_delivery_timeout_seconds,
            stall_alert_after=settings.relay_stall_alert_seconds,
            idle_poll_interval=settings.relay_idle_poll_seconds,
        )
        self.executor.after_commit.append(self.relay.wake)
        self.notifier = Notifier(self.engine, self.relay.channel, leads=lambda: self.relay.is_leader)
        self.executor.after_commit.append(self.notifier)  # wakes the leader when it runs in another process
        # PMO_WORKERS > 1: one worker of the replica runs the relay, the consumers and the background tasks
        self.lease = (
            workers.BackgroundLease(
                self.engine, relay_wake.lock_key_for(self.schema, f"workers:{settings.replica()}"), self._background
            )
            if settings.workers > 1
            else None
        )
        self.task_notifiers = [
            Notifier(self.engine, wakeups.channel_name(prefix, self.schema), leads=self._runs_background)
            for prefix in (spec.woken_by_commands if self.lease is not None else ())
        ]
        self.executor.after_commit.extend(self.task_notifiers)
        self.admission = Admission(self.engine, self.kafka, service=spec.name, topic=spec.topic)
        self.executor.admission = self.admission.admit
        # one Kafka consumer group member feeds every read model of the replica (each record fetched and decoded
        # once, one heartbeat and one fetch for all); each read model keeps its own transactions and offsets
        self.feed = (
            ProjectionConsumer.feeding(
                self.engine,
                self.kafka,
                spec.projections,
                group_id=f"{settings.kafka_group_prefix}.{spec.name}.read-models",
            )
            if spec.projections
            else None
        )
        self.consumers = [] if self.feed is None else list(self.feed.lanes)
        """The read models' consumers (lanes of :attr:`feed`, which runs them)."""
        self.memo: dict[Any, Any] = {}
        """Facts a service may remember for the life of the process because they never stop being true."""
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._probe: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Migrate, create topics, start the relay and the consumers."""
        await migrations.prepare(self.engine, self.spec.name, self.schema, apply=self.settings.migrate_on_start)
        topics = {self.spec.topic, DLQ_TOPIC, *self.spec.extra_topics}
        for projection in self.spec.projections:
            topics.update(projection.topics)
        await prepare_topics(self.kafka, sorted(topics))  # refuses lowered partitions, warns of weaker settings
        if self.settings.reconcile_on_start:
            try:  # a table restored behind its topic: refuse the projects concerned until reconciled
                await self.admission.check()
            except Exception:
                log.exception("%s: could not compare the event table with %s", self.spec.name, self.spec.topic)
        self._probe = new_producer(self.kafka, enable_idempotence=False, acks=1)
        await self._probe.start()
        if self.lease is None:
            self._background()
        else:
            workers.forget_dead_workers()
            self._tasks.append(asyncio.create_task(self.lease.run(self._stop), name=f"{self.spec.name}-lease"))

    def _runs_background(self) -> bool:
        """Whether this process runs the relay, the consumers and the background tasks."""
        return self.lease is None or self.lease.started

    def _background(self) -> None:
        """Start the relay, the consumers and the background tasks (once per replica: :mod:`shared.workers`)."""
        self._tasks.append(asyncio.create_task(self.relay.run(self._stop), name=f"{self.spec.name}-relay"))
        if self.feed is not None:
            self._tasks.append(asyncio.create_task(self.feed.run(self._stop), name=f"{self.spec.name}-consumer"))
        for task in self.spec.background:
            self._tasks.append(asyncio.create_task(task(self, self._stop), name=f"{self.spec.name}-background"))

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=10)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._probe is not None:
            await self._probe.stop()
        await self.notifier.close()
        for notifier in self.task_notifiers:
            await notifier.close()
        workers.leaving()
        await self.engine.dispose()

    async def database(self) -> None:
        await ping(self.engine)

    async def kafka_metadata(self) -> dict[str, Any] | None:
        """Kafka's state, reported apart: commands do not need Kafka (the relay publishes what piled up once it is
        back), so an unreachable cluster is a ``{"kafka": ...}`` note on a ready ("degraded") answer, never a
        readiness failure that would take every replica out of service. Answers within 1 s (probes allow 2)."""
        assert self._probe is not None
        try:
            await asyncio.wait_for(self._probe.client.fetch_all_metadata(), timeout=1)
        except Exception as exc:
            return {"kafka": {"reachable": False, "error": type(exc).__name__}}
        return None

    async def relay_stalled(self) -> dict[str, Any] | None:
        """``{"relay_stalled": {...}}`` while a partition of this replica's relay is stalled (a detail: readiness
        stays, the answer says "degraded"); None otherwise."""
        return self.relay.status()

    async def relay_held(self) -> dict[str, Any] | None:
        """``{"relay": {"held_events": n, "projects": [...]}}`` while the relay holds events Kafka refused (commands
        still work: readiness stays, the answer says "degraded"); None otherwise."""
        held = await relay_held_module.summary(self.engine, self.relay.name)
        return None if held is None else {"relay": held}


def build_app(spec: ServiceSpec, settings: ServiceSettings | None = None) -> FastAPI:
    """The service's FastAPI app; settings come from the environment unless given."""
    resolved = settings or ServiceSettings()  # fields come from the environment
    logs.configure(spec.name)
    tracing.configure(spec.name)
    verifier = TokenVerifier(resolved.auth())  # refuses to build in production mode without a key

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = ServiceRuntime(spec, resolved)
        app.state.runtime = runtime
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    def readiness(app: FastAPI) -> list:  # type: ignore[type-arg]
        runtime: ServiceRuntime = app.state.runtime
        checks = [runtime.database, runtime.kafka_metadata, runtime.relay_held, runtime.relay_stalled, verifier.key_set]
        return [*checks, runtime.admission.readiness]

    app = create_app(
        service=spec.name,
        version=spec.version,
        description=spec.description,
        routers=[*spec.routers, dead_letters_api.router],
        public_routers=spec.public_routers,
        lifespan=lifespan,
        readiness=readiness,
        max_body_bytes=resolved.max_body_bytes,
        request_timeout=resolved.request_timeout_seconds,
        session_cookie=spec.session_cookie,
        verifier=verifier,
        access=dead_letters_api.operator_access(spec.access),
        cors_origins=resolved.cors_origins,
    )
    app.state.access = dead_letters_api.operator_access(spec.access)
    app.state.object_owners = spec.object_owners
    return app


async def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]
