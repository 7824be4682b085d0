"""Settings of the reporting service (``PMO_`` environment variables)."""

from pydantic import Field

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The shared settings, plus how often alerts are evaluated."""

    evaluation_interval: float = Field(
        default=0.2, gt=0, le=60, description="seconds between evaluations of changed projects"
    )
    full_evaluation_interval: float = Field(
        default=86400.0,
        gt=0,
        le=86400,
        description="seconds between evaluations of every project (date-driven rules), besides one at start and "
        "one when the business date changes",
    )
