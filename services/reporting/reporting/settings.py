"""Settings of the reporting service (``PMO_`` environment variables)."""

from decimal import Decimal

from pydantic import Field, field_validator

from reporting.domain.raid import EXPOSURE_SHARE
from reporting.notifications.settings import NotificationSettings
from shared.money import minor_unit


class Settings(NotificationSettings):
    """The shared settings, plus how often alerts are evaluated and the portfolio's reporting currency."""

    reporting_currency: str = Field(
        default="EUR",
        description="ISO 4217 currency the portfolio report rolls every project up in (converted at the exchange "
        "rate in force on the report's date); a report may ask for another with ?currency=",
    )

    @field_validator("reporting_currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        minor_unit(value)  # ValueError for a code that is not ISO 4217
        return value

    raid_exposure_share: Decimal = Field(
        default=EXPOSURE_SHARE,
        gt=0,
        le=10,
        description="a project's risk exposure (sum of probability / 5 x money impact of its open risks) above this "
        "share of its remaining budget (BAC - AC) raises raid-exposure-high",
    )
    evaluation_interval: float = Field(
        default=0.2,
        gt=0,
        le=60,
        description="the shortest gap between two evaluations of changed projects (the facts consumer wakes the "
        "evaluator by NOTIFY; at rest it sleeps, with a 30 s safety poll)",
    )
    full_evaluation_interval: float = Field(
        default=86400.0,
        gt=0,
        le=86400,
        description="seconds between evaluations of every project (date-driven rules), besides one at start and "
        "one when the business date changes",
    )
