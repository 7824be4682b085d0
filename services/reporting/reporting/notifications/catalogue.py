"""What a subscription may name: the event types of the published contracts and the alert rules of the evaluator.

An event type is written as the CloudEvents type without its version, ``pmo.<service>.<event-name>`` (every
version of it is delivered, each with its versioned type in the payload); ``pmo.reporting.alert-raised`` and the
other alert events are event types too. An alert rule (``underfunding-risk``, ...) subscribes to the raised,
updated, cleared and acknowledged events of that rule's alerts.
"""

from __future__ import annotations

from functools import cache

from shared.contracts import REGISTRIES

ALERT_RULES = frozenset(
    {
        "commitment-without-budget",
        "commitments-above-budget",
        "cpi-below-threshold",
        "follow-up-overdue",
        "invoice-above-commitment",
        "invoice-backing-below-target",
        "invoice-overdue",
        "invoice-paid-without-backing",
        "kpi-below-target",
        "over-allocation",
        "plan-disagrees",
        "raid-dependency-late",
        "raid-exposure-high",
        "raid-response-overdue",
        "raid-review-overdue",
        "spi-below-threshold",
        "status-report-missing",
        "underfunding-risk",
        "vac-overrun",
    }
)
"""The rules the evaluator raises alerts under (:mod:`reporting.domain.rules`, :mod:`reporting.domain.raid`); a
unit test keeps this list in step with the rules those modules name."""

SEVERITIES = ("warning", "critical")
ALERT_EVENTS = frozenset({"alert-raised", "alert-updated", "alert-cleared", "alert-acknowledged"})


def event_type(service: str, name: str) -> str:
    """The subscription name of an event: ``pmo.<service>.<event-name>``."""
    return f"pmo.{service}.{name}"


@cache
def event_types() -> frozenset[str]:
    """Every event type a subscription may name (from the contracts' registries)."""
    return frozenset(
        event_type(service, model.event_name) for service, registry in REGISTRIES.items() for model in registry
    )
