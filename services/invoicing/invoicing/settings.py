"""Settings of the invoicing service (``PMO_`` environment variables)."""

from pydantic import Field

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The shared settings, and how often the matcher looks for invoices to match again."""

    matcher_poll_interval: float = Field(
        default=0.2, gt=0, le=60, description="seconds the matcher waits when nothing is left to match again"
    )
