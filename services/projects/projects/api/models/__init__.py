"""Request and response bodies of the projects API, with their limits, one module per concern; every name is
re-exported here, so ``from projects.api import models as m`` and ``m.<Name>`` reach them all."""

from projects.api.models.baselines import (
    BaselineItemRequest,
    BaselineView,
    MonthAmountRequest,
    ProposeBaselineRequest,
    RejectBaselineRequest,
    WeightedStepRequest,
)
from projects.api.models.fields import Reason, Slug, Text200, Text4000
from projects.api.models.groupings import CreatePortfolioRequest, CreateProgrammeRequest, GroupingView
from projects.api.models.lifecycle import (
    ApproveRequest,
    CompleteRequest,
    GateDecisionRequest,
    GateDecisionView,
    HoldRequest,
    ResumeRequest,
    StartRequest,
    TerminateRequest,
)
from projects.api.models.milestones import (
    MilestoneView,
    MissedRequest,
    PlanMilestoneRequest,
    ProgressRequest,
    ReachedRequest,
    RescheduleRequest,
)
from projects.api.models.partners import (
    CloseFollowUpRequest,
    CommunicationRequest,
    CommunicationView,
    PartnerRequest,
    PartnerView,
)
from projects.api.models.projects import AuditEntry, ProjectView, RegisterProjectRequest
from projects.api.models.status import (
    Items,
    KpiRequest,
    KpiView,
    MeasurementRequest,
    MeasurementView,
    StatusReportRequest,
    StatusReportView,
)

__all__ = [
    "ApproveRequest",
    "AuditEntry",
    "BaselineItemRequest",
    "BaselineView",
    "CloseFollowUpRequest",
    "CommunicationRequest",
    "CommunicationView",
    "CompleteRequest",
    "CreatePortfolioRequest",
    "CreateProgrammeRequest",
    "GateDecisionRequest",
    "GateDecisionView",
    "GroupingView",
    "HoldRequest",
    "Items",
    "KpiRequest",
    "KpiView",
    "MeasurementRequest",
    "MeasurementView",
    "MilestoneView",
    "MissedRequest",
    "MonthAmountRequest",
    "PartnerRequest",
    "PartnerView",
    "PlanMilestoneRequest",
    "ProgressRequest",
    "ProjectView",
    "ProposeBaselineRequest",
    "ReachedRequest",
    "Reason",
    "RegisterProjectRequest",
    "RejectBaselineRequest",
    "RescheduleRequest",
    "ResumeRequest",
    "Slug",
    "StartRequest",
    "StatusReportRequest",
    "StatusReportView",
    "TerminateRequest",
    "Text200",
    "Text4000",
    "WeightedStepRequest",
]
