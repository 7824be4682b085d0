"""Structured JSON logs with the request's correlation id (and W3C ``traceparent``) on every line.

The correlation id comes from ``X-Correlation-ID`` (or is generated), travels in the event metadata and the Kafka
headers (``ce_correlationid``, ``traceparent``), and is set again by the consumers while they apply an event, so one
id follows a command from the HTTP request to every read model it changes. Each line also carries ``trace_id`` and
``span_id``: the current OpenTelemetry span's when tracing is on (:mod:`shared.tracing`), else those of the
``traceparent`` being served, so a line is found from its trace and back. Uvicorn's own lines (server start, errors)
go through the same JSON handler.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar("traceparent", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (cid := correlation_id.get()) is not None:
            line["correlation_id"] = cid
        if (tp := traceparent.get()) is not None:
            line["traceparent"] = tp
        line.update(trace_ids(tp))
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


def trace_ids(given: str | None) -> dict[str, str]:
    """``trace_id`` and ``span_id`` (lower-case hex) of the current span, else of the ``given`` traceparent."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
    parts = given.split("-") if given else []
    if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
        return {"trace_id": parts[1], "span_id": parts[2]}
    return {}


def configure(service: str) -> None:
    """JSON lines on stderr at ``PMO_LOG_LEVEL`` (default INFO). Idempotent; tests keep pytest's own handlers."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers) or "pytest" in sys.modules:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("PMO_LOG_LEVEL", "INFO").upper())
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for own in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # uvicorn set up its handlers before the app's factory
        logging.getLogger(own).handlers.clear()
        logging.getLogger(own).propagate = True
