"""Settings of the resources service (``PMO_`` environment variables)."""

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The shared settings; the resources service adds none yet."""
