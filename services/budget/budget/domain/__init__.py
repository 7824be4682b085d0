"""The budget aggregate (one per project): baseline, change requests, funding, commitments.

Pure ``decide`` / ``evolve`` over frozen dataclasses; the project's currency and milestones, which this service
learns from ``pmo.projects.v1``, come in with the commands. One module per concern, each with its commands, its
errors, its ``decide`` and an ``evolve`` exhaustive over its events:

* :mod:`~budget.domain.state`: the folded state (BAC, category budgets, committed, funding available on a day);
* :mod:`~budget.domain.baseline`: the baseline, whose category split and phasing each add up to the total, and
  the change requests (BAC = baseline + approved changes);
* :mod:`~budget.domain.funding`: sources and tranches, secured or planned; funding available on a date = secured
  tranches available by then and not withdrawn by then;
* :mod:`~budget.domain.commitments`: purchase orders and subcontracts, and their overruns;
* :mod:`~budget.domain.overrun_policy`: ``warn`` (the default), ``block`` or ``require_approval``; a stricter
  policy applies at once, a looser one only once another person approves it;
* :mod:`~budget.domain.estimates`: the project manager's estimate to complete, per category and by month;
* :mod:`~budget.domain.conversion`: which exchange rate books an amount in another currency, and its booking;
* :mod:`~budget.domain.exchange_rates`: the ``exchange-rate`` aggregate (one per currency pair), rates by date;
* :mod:`~budget.domain.project`: the project as this service knows it; a closed project's budget accepts no
  change;
* :mod:`~budget.domain.aggregate`: ``decide`` and ``evolve`` over every command and event, the :data:`BUDGET`
  decider and the stream id;
* :mod:`~budget.domain.cache`: the states of recently used budgets by version, which commands decide on instead
  of the stream read first (:class:`budget.handlers.streams.CachedStreams`: the append's version check guards
  them).

Baselines, change requests and estimates are in the budget's currency; funding tranches and commitments may be in
any currency, booked in the budget's at the dated rate in force (:mod:`~budget.domain.conversion`), and every check
reads the booked amount. An approver is never the requester, people compared by
:func:`shared.identity.same_person`.
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
from budget.domain.conversion import INVERSE_CONTEXT, Converted, RateInForce, RecordedRate, book, in_force
from budget.domain.estimates import SubmitEstimate
from budget.domain.exchange_rates import EXCHANGE_RATE, ExchangeRatePair, RecordExchangeRate, fx_stream
from budget.domain.funding import (
    AddFundingSource,
    PlanFunding,
    RescheduleFunding,
    SecureFunding,
    SecurePlannedFunding,
    TrancheSecuredError,
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
    "EXCHANGE_RATE",
    "INVERSE_CONTEXT",
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
    "Converted",
    "ExchangeRatePair",
    "FundingSource",
    "KnownProject",
    "NoBaselineError",
    "NoPolicyRequestError",
    "OverrunRefusedError",
    "PlanFunding",
    "ProjectClosedError",
    "RateInForce",
    "RecordExchangeRate",
    "RecordedRate",
    "RefuseCommitment",
    "RejectChange",
    "RequestChange",
    "RescheduleFunding",
    "SecureFunding",
    "SecurePlannedFunding",
    "SetOverrunPolicy",
    "SubmitEstimate",
    "Tranche",
    "TrancheSecuredError",
    "TrancheWithdrawnError",
    "UnknownChangeRequestError",
    "UnknownCommitmentError",
    "UnknownFundingSourceError",
    "UnknownProjectError",
    "UnknownTrancheError",
    "WithdrawFunding",
    "book",
    "decide",
    "evolve",
    "fx_stream",
    "in_force",
    "open_project",
    "stream_id",
]
