"""Settings of the invoicing service (``PMO_`` environment variables)."""

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The shared settings; the invoicing service adds none yet."""
