"""Settings of the reporting service (``PMO_`` environment variables)."""

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The shared settings; the reporting service adds none yet."""
