"""Settings of the projects service (``PMO_`` environment variables)."""

from pydantic import Field

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The shared settings, and where the reporting service answers (asked for its figures when a gate decision is
    recorded: the service's one synchronous call to another, which never blocks the decision)."""

    reporting_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://[^\s]+$",
        description="base URL of the reporting service (`pmo run` sets it to where it starts reporting); unset: "
        "gate decisions are recorded with their figures marked unavailable",
    )
    reporting_timeout_seconds: float = Field(
        default=2.0, gt=0, le=10, description="longest wait for reporting's figures when a gate decision is recorded"
    )
