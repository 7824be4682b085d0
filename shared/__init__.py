"""The PMO backend's shared kernel: event envelope, event store, relay, consumer and web helpers.

Every service depends on this package and on nothing of another service. The domain modules of the
services import only the standard library and :mod:`shared.money`, :mod:`shared.events`,
:mod:`shared.errors` and :mod:`shared.contracts`.
"""

from shared.processes import prepare_metrics as _prepare_metrics

_prepare_metrics()  # PMO_WORKERS > 1: prometheus_client's multiprocess mode, chosen when it is imported
