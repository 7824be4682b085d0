"""Settings of the projects service (``PMO_`` environment variables)."""

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The shared settings; the projects service adds none yet."""
