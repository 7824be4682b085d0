"""The budget aggregate (one per project): baseline, change requests, funding, commitments.

Pure ``decide`` / ``evolve`` over frozen dataclasses; the project's currency and milestones, which this service
learns from ``pmo.projects.v1``, come in with the commands. One module per concern, each with its commands, its
errors, its ``decide`` and an ``evolve`` exhaustive over its events:

* :mod:`~budget.domain.state`: the folded state (BAC, category budgets, committed, funding available on a day);
* :mod:`~budget.domain.baseline`: the baseline, whose category split and phasing each add up to the total, and
  the change requests (BAC = baseline + approved changes);
* :mod:`~budget.domain.funding`: sources and tranches; funding available on a date = tranches available by then
  and not withdrawn by then;
* :mod:`~budget.domain.commitments`: purchase orders and subcontracts, and their overruns;
* :mod:`~budget.domain.overrun_policy`: ``warn`` (the default), ``block`` or ``require_approval``; a stricter
  policy applies at once, a looser one only once another person approves it;
* :mod:`~budget.domain.project`: the project as this service knows it; a closed project's budget accepts no
  change;
* :mod:`~budget.domain.aggregate`: ``decide`` and ``evolve`` over every command and event, the :data:`BUDGET`
  decider and the stream id.

Every amount is in the budget's currency (nothing is converted); an approver is never the requester, people
compared by :func:`shared.identity.same_person`.
"""

from budget.domain.aggregate import BUDGET, BudgetEvent, Command, decide, evolve, stream_id
from budget.domain.baseline import (
    AlreadyBaselinedError,
    ApproveChange,
    BaselineBudget,
    ChangeDecidedError,
    NoBaselineError,
    RejectChange,
    RequestChange,
    UnknownChangeRequestError,
)
from budget.domain.commitments import (
    AdjustCommitment,
    ApproveCommitment,
    CancelCommitment,
    Commit,
    CommitmentStatusError,
    OverrunRefusedError,
    RefuseCommitment,
    UnknownCommitmentError,
)
from budget.domain.funding import (
    AddFundingSource,
    RescheduleFunding,
    SecureFunding,
    TrancheWithdrawnError,
    UnknownFundingSourceError,
    UnknownTrancheError,
    WithdrawFunding,
)
from budget.domain.overrun_policy import STRICTNESS, ApproveOverrunPolicy, NoPolicyRequestError, SetOverrunPolicy
from budget.domain.project import KnownProject, ProjectClosedError, UnknownProjectError, open_project
from budget.domain.state import (
    Budget,
    ChangeRequest,
    ChangeStatus,
    Commitment,
    CommitmentStatus,
    FundingSource,
    Tranche,
)

__all__ = [
    "BUDGET",
    "STRICTNESS",
    "AddFundingSource",
    "AdjustCommitment",
    "AlreadyBaselinedError",
    "ApproveChange",
    "ApproveCommitment",
    "ApproveOverrunPolicy",
    "BaselineBudget",
    "Budget",
    "BudgetEvent",
    "CancelCommitment",
    "ChangeDecidedError",
    "ChangeRequest",
    "ChangeStatus",
    "Command",
    "Commit",
    "Commitment",
    "CommitmentStatus",
    "CommitmentStatusError",
    "FundingSource",
    "KnownProject",
    "NoBaselineError",
    "NoPolicyRequestError",
    "OverrunRefusedError",
    "ProjectClosedError",
    "RefuseCommitment",
    "RejectChange",
    "RequestChange",
    "RescheduleFunding",
    "SecureFunding",
    "SetOverrunPolicy",
    "Tranche",
    "TrancheWithdrawnError",
    "UnknownChangeRequestError",
    "UnknownCommitmentError",
    "UnknownFundingSourceError",
    "UnknownProjectError",
    "UnknownTrancheError",
    "WithdrawFunding",
    "decide",
    "evolve",
    "open_project",
    "stream_id",
]
