"""Settings every service reads from the environment (prefix ``PMO_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import DEFAULT_MAX_LIFETIME_SECONDS, AuthConfig
from shared.kafka import KafkaOptions
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
    topic_partitions: int = Field(default=3, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    relay_poll_interval: float = Field(default=0.02, gt=0, le=10)
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1024, le=100_000_000)
    jwt_secret: SecretStr | None = Field(default=None, description="HS256 shared secret (development, tests)")
    jwt_public_key_file: str | None = Field(default=None, description="PEM public key file (RS256/ES256)")
    jwks_file: str | None = Field(default=None, description="JWKS file with the identity provider's keys")
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
            max_lifetime_seconds=self.jwt_max_lifetime_seconds,
        )

    def kafka(self) -> KafkaOptions:
        return KafkaOptions(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None,
            ssl_cafile=self.kafka_ssl_cafile,
            max_message_bytes=self.kafka_max_message_bytes,
        )
