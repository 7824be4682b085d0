"""Settings every service reads from the environment (prefix ``PMO_``)."""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import DEFAULT_MAX_LIFETIME_SECONDS, AuthConfig
from shared.commands import (
    IDEMPOTENCY_RETENTION_HOURS,
    MAX_IDEMPOTENCY_RETENTION_HOURS,
    MIN_IDEMPOTENCY_RETENTION_HOURS,
)
from shared.kafka import ConsumerSettings, KafkaOptions, ProducerSettings, TopicSettings
from shared.limits import MAX_BODY_BYTES


class ServiceSettings(BaseSettings):
    """Configuration of one service process. See the configuration table in the README."""

    model_config = SettingsConfigDict(env_prefix="PMO_", extra="ignore")

    env: Literal["production", "development"] = Field(
        default="production", description="development allows the built-in token secret; production refuses it"
    )
    database_url: str = Field(description="SQLAlchemy URL of the PostgreSQL database (asyncpg driver)")
    database_ssl_mode: Literal["disable", "require", "verify-ca", "verify-full"] = "disable"
    database_ssl_root_cert: str | None = None
    db_schema: str | None = Field(default=None, description="schema the service owns; defaults to its name")
    db_pool_size: int = Field(default=10, ge=1, le=200)
    migrate_on_start: bool = Field(
        default=True,
        description="apply the schema's pending migrations at start (development); false in production: run `pmo "
        "migrate` first (the service then needs no DDL rights) and a schema behind the code stops the start",
    )
    reconcile_on_start: bool = Field(
        default=True,
        description="compare the event table with the service's topic at start and refuse commands for projects "
        "whose events are on the topic but not in the table (a database restored behind Kafka) until `pmo "
        "reconcile`; off only where several schemas share one topic, as the test suite's services do",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="uvicorn worker processes serving HTTP on the port; one of them, elected by a lock per replica, "
        'runs the relay, the consumers and the background tasks (docs/operations.md, "Workers")',
    )
    db_statement_timeout_ms: int = Field(
        default=15_000, ge=100, le=3_600_000, description="longest a service's SQL statement may run"
    )
    request_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="longest a request may take before it is stopped (503)"
    )
    kafka_bootstrap_servers: str = Field(description="host:port[,host:port] of the Kafka brokers")
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_max_message_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="largest record the relay sends (the producer's max_request_size); keep it at or below the "
        "broker's and topics' max.message.bytes",
    )
    kafka_group_prefix: str = Field(
        default="pmo", min_length=1, max_length=100, description="prefix of consumer group ids (one per deployment)"
    )
    # -- Kafka clients and topics (docs/operations.md, "Kafka cluster") --
    replica_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="stable name of this replica (e.g. the pod name): names its Kafka clients and database "
        "sessions and makes its consumers static group members; unset: <hostname>-<pid>, dynamic members",
    )
    kafka_acks: Literal["all", "1", "0"] = Field(default="all", description="producer acks; idempotence needs all")
    kafka_enable_idempotence: bool = True
    kafka_linger_ms: int = Field(default=5, ge=0, le=60_000)
    kafka_request_timeout_ms: int = Field(default=30_000, ge=1_000, le=300_000)
    kafka_retry_backoff_ms: int = Field(default=100, ge=10, le=10_000)
    kafka_metadata_max_age_ms: int = Field(default=10_000, ge=1_000, le=3_600_000)
    kafka_session_timeout_ms: int = Field(
        default=6_000, ge=1_000, le=300_000, description="a crashed consumer's partitions move after this"
    )
    kafka_heartbeat_interval_ms: int = Field(default=2_000, ge=100, le=100_000)
    kafka_fetch_max_wait_ms: int = Field(
        default=5_000,
        ge=10,
        le=60_000,
        description="longest a consumer's fetch waits at the broker when nothing is new (records end it at once)",
    )
    kafka_fetcher_poll_ms: int = Field(
        default=1_000,
        ge=10,
        le=60_000,
        description="longest each consumer's background fetch routine sleeps when nothing wakes it",
    )
    kafka_reconnect_backoff_ms: int = Field(default=200, ge=10, le=60_000)
    kafka_reconnect_backoff_max_ms: int = Field(default=5_000, ge=10, le=300_000)
    topic_partitions: int = Field(default=3, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    topic_min_insync_replicas: int | None = Field(
        default=None, ge=1, le=10, description="unset: replication factor - 1, at least 1"
    )
    topic_retention_ms: int = Field(default=-1, ge=-1, description="-1: forever (the topics are the replayable log)")
    topic_cleanup_policy: Literal["delete", "compact", "compact,delete"] = "delete"
    relay_poll_interval: float = Field(default=0.02, gt=0, le=10)
    relay_idle_poll_seconds: float = Field(
        default=30.0, gt=0, le=300, description="the relay's safety poll at rest (commits wake it by LISTEN/NOTIFY)"
    )
    # -- Relay (docs/operations.md, "Relay stalls") --
    relay_delivery_timeout_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="a batch unanswered this long marks its partition stalled"
    )
    relay_stall_alert_seconds: float = Field(
        default=60.0, gt=0, le=86_400, description="a stall this long raises the relay's alert (log, counter)"
    )
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1024, le=100_000_000)
    idempotency_retention_hours: int = Field(
        default=IDEMPOTENCY_RETENTION_HOURS,
        ge=MIN_IDEMPOTENCY_RETENTION_HOURS,
        le=MAX_IDEMPOTENCY_RETENTION_HOURS,
        description="how long an Idempotency-Key's first answer is kept and replayed; after it the key is new",
    )
    jwt_secret: SecretStr | None = Field(default=None, description="HS256 shared secret (development, tests)")
    jwt_public_key_file: str | None = Field(default=None, description="PEM public key file (RS256/ES256)")
    jwks_file: str | None = Field(default=None, description="JWKS file with the identity provider's keys")
    jwks_url: str | None = Field(default=None, max_length=2000, description="identity provider's JWKS URL (cached)")
    jwks_timeout_seconds: float = Field(default=3.0, gt=0, le=30, description="longest wait for the JWKS URL")
    jwks_refresh_seconds: float = Field(default=300.0, ge=10, le=86400, description="age at which keys are refreshed")
    jwks_min_refresh_seconds: float = Field(
        default=30.0, ge=1, le=3600, description="an unknown kid fetches the JWKS URL at most once per this interval"
    )
    roles_claim: str = Field(default="roles", min_length=1, max_length=200, description="e.g. realm_access.roles")
    role_map: str = Field(default="", max_length=10_000, description="their-role=our-role,...; empty: our names")
    portfolios_claim: str = Field(default="pmo_portfolios", min_length=1, max_length=200)
    programmes_claim: str = Field(default="pmo_programmes", min_length=1, max_length=200)
    client_id_claim: str = Field(default="azp", min_length=1, max_length=200, description="a machine client's id")
    service_clients: dict[str, list[str]] | None = Field(
        default=None, description='JSON: routes per machine client id, e.g. {"erp": ["POST /invoices"]}'
    )
    jwt_issuer: str = "pmo"
    jwt_audience: str = "pmo-api"
    jwt_max_lifetime_seconds: int = Field(
        default=DEFAULT_MAX_LIFETIME_SECONDS,
        ge=60,
        le=7 * 24 * 3600,
        description="longest token lifetime (exp - iat) accepted; longer-lived tokens are refused (401)",
    )
    cors_origins: list[str] = Field(default_factory=list, description="allowed browser origins; none by default")

    def auth(self) -> AuthConfig:
        return AuthConfig(
            mode=self.env,
            issuer=self.jwt_issuer,
            audience=self.jwt_audience,
            secret=self.jwt_secret.get_secret_value() if self.jwt_secret else None,
            public_key_file=self.jwt_public_key_file,
            jwks_file=self.jwks_file,
            jwks_url=self.jwks_url,
            jwks_timeout_seconds=self.jwks_timeout_seconds,
            jwks_refresh_seconds=self.jwks_refresh_seconds,
            jwks_min_refresh_seconds=self.jwks_min_refresh_seconds,
            max_lifetime_seconds=self.jwt_max_lifetime_seconds,
            roles_claim=self.roles_claim,
            role_map=self.role_map,
            portfolios_claim=self.portfolios_claim,
            programmes_claim=self.programmes_claim,
            client_id_claim=self.client_id_claim,
            service_clients=self.service_clients,
        )

    def kafka(self, service: str = "pmo") -> KafkaOptions:
        """The Kafka client options of ``service``'s clients (their client id names the service and the replica)."""
        return KafkaOptions(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None,
            ssl_cafile=self.kafka_ssl_cafile,
            max_message_bytes=self.kafka_max_message_bytes,
            client_id=f"pmo-{service}-{self.replica()}",
            metadata_max_age_ms=self.kafka_metadata_max_age_ms,
            reconnect_backoff_ms=self.kafka_reconnect_backoff_ms,
            reconnect_backoff_max_ms=self.kafka_reconnect_backoff_max_ms,
            producer=ProducerSettings(
                acks=self.kafka_acks,
                enable_idempotence=self.kafka_enable_idempotence,
                linger_ms=self.kafka_linger_ms,
                request_timeout_ms=self.kafka_request_timeout_ms,
                retry_backoff_ms=self.kafka_retry_backoff_ms,
            ),
            consumer=ConsumerSettings(
                session_timeout_ms=self.kafka_session_timeout_ms,
                heartbeat_interval_ms=self.kafka_heartbeat_interval_ms,
                fetch_max_wait_ms=self.kafka_fetch_max_wait_ms,
                fetcher_poll_ms=self.kafka_fetcher_poll_ms,
                group_instance=self.replica_id,
            ),
            topic=TopicSettings(
                partitions=self.topic_partitions,
                replication_factor=self.topic_replication_factor,
                min_insync_replicas=self.topic_min_insync_replicas,
                retention_ms=self.topic_retention_ms,
                cleanup_policy=self.topic_cleanup_policy,
            ),
        )

    def replica(self) -> str:
        """This replica's name: ``PMO_REPLICA_ID``, else ``<hostname>-<pid>``; the pid of the supervising process
        when ``PMO_WORKERS`` > 1 (the workers of one replica share its name)."""
        pid = os.getppid() if self.workers > 1 else os.getpid()
        return self.replica_id or f"{socket.gethostname()}-{pid}"

    def application_name(self, schema: str) -> str:
        """The ``application_name`` of this replica's database sessions (PostgreSQL keeps 63 bytes)."""
        return f"pmo-{schema}-{self.replica()}"[:63]

    @model_validator(mode="after")
    def _relay_consistent(self) -> ServiceSettings:
        """A delivery timeout the producer's linger alone could use up is refused at start."""
        if self.relay_delivery_timeout_seconds * 1000 <= self.kafka_linger_ms:
            raise ValueError(
                f"PMO_RELAY_DELIVERY_TIMEOUT_SECONDS={self.relay_delivery_timeout_seconds:g} is not longer than "
                f"PMO_KAFKA_LINGER_MS={self.kafka_linger_ms}: every batch would count as late"
            )
        return self

    @model_validator(mode="after")
    def _kafka_consistent(self) -> ServiceSettings:
        """Kafka settings that cannot work together are refused at start, naming the variables."""
        problems = []
        if self.kafka_enable_idempotence and self.kafka_acks != "all":
            problems.append("PMO_KAFKA_ENABLE_IDEMPOTENCE=true needs PMO_KAFKA_ACKS=all")
        if self.kafka_heartbeat_interval_ms >= self.kafka_session_timeout_ms:
            problems.append("PMO_KAFKA_HEARTBEAT_INTERVAL_MS must be below PMO_KAFKA_SESSION_TIMEOUT_MS")
        if self.kafka_fetch_max_wait_ms >= self.kafka_request_timeout_ms:
            problems.append("PMO_KAFKA_FETCH_MAX_WAIT_MS must be below PMO_KAFKA_REQUEST_TIMEOUT_MS")
        if self.kafka_reconnect_backoff_ms > self.kafka_reconnect_backoff_max_ms:
            problems.append("PMO_KAFKA_RECONNECT_BACKOFF_MS must not exceed PMO_KAFKA_RECONNECT_BACKOFF_MAX_MS")
        min_isr = self.topic_min_insync_replicas
        if min_isr is not None and min_isr > self.topic_replication_factor:
            problems.append(
                f"PMO_TOPIC_MIN_INSYNC_REPLICAS={min_isr} is above PMO_TOPIC_REPLICATION_FACTOR="
                f"{self.topic_replication_factor}: no write could ever be acknowledged"
            )
        if 0 <= self.topic_retention_ms < 60_000:
            problems.append("PMO_TOPIC_RETENTION_MS must be -1 (forever) or at least 60000")
        if problems:
            raise ValueError("; ".join(problems))
        return self
