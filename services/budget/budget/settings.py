"""Settings of the budget service (``PMO_`` environment variables)."""

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The shared settings; the budget service adds none yet."""
