"""The approvals inbox (``GET /approvals``): every decision waiting across the services, as a read model fed from
their topics (:mod:`.model`, by the rules of :mod:`.rules`), listed for the caller by :mod:`.views`."""

from reporting.approvals.api import router
from reporting.approvals.kinds import ApprovalKind
from reporting.approvals.model import DDL, TABLES, ApprovalsProjection

__all__ = ["DDL", "TABLES", "ApprovalKind", "ApprovalsProjection", "router"]
