"""The reporting service: read models fed from the other services' topics, alerts on ``pmo.alerts.v1``."""
