"""The projects service's use cases: one function per command.

Each gathers the facts its command needs (through :class:`GroupingFacts`), builds the domain command (new ids, the
acting user from the context, a date left out = today by the executor's clock), runs it through the executor in one
transaction and returns the outcome with the view the command answers (:mod:`projects.views`). Routes, background
tasks and any other caller go through these functions. One module per concern, as in :mod:`projects.domain`:
:mod:`.groupings` (portfolios and programmes), :mod:`.lifecycle`, :mod:`.gates` (stage-gate decisions with
reporting's figures: the one synchronous call from this service to another, which never blocks a decision),
:mod:`.milestones`, :mod:`.baselines`, :mod:`.status` (status reports and KPIs), :mod:`.partners` and :mod:`.edits`
(the edits after the fact); how each runs
its command on the project's stream is :mod:`.running`.

Every public name is re-exported here: ``from projects import handlers; handlers.plan_milestone``.
"""

from projects.handlers.baselines import approve_baseline, propose_baseline, reject_baseline
from projects.handlers.edits import (
    approve_milestone_value_change,
    change_project_details,
    close_grouping,
    move_project,
    reject_milestone_value_change,
    rename_grouping,
    request_milestone_value_change,
    revise_kpi,
)
from projects.handlers.gates import (
    REPORTING_TIMEOUT_SECONDS,
    MalformedReportError,
    Reporting,
    ReportingUnavailableError,
    figures_from_report,
    gate_figures,
    record_gate_decision,
)
from projects.handlers.groupings import GroupingFacts, GroupingKind, create_portfolio, create_programme
from projects.handlers.lifecycle import (
    approve_project,
    complete_project,
    put_project_on_hold,
    register_project,
    resume_project,
    start_project,
    terminate_project,
)
from projects.handlers.milestones import (
    mark_milestone_missed,
    mark_milestone_reached,
    plan_milestone,
    report_milestone_progress,
    reschedule_milestone,
)
from projects.handlers.partners import close_follow_up, log_communication
from projects.handlers.people import register_partner
from projects.handlers.running import Outcome
from projects.handlers.status import define_kpi, file_status_report, measure_kpi

__all__ = [
    "REPORTING_TIMEOUT_SECONDS",
    "GroupingFacts",
    "GroupingKind",
    "MalformedReportError",
    "Outcome",
    "Reporting",
    "ReportingUnavailableError",
    "approve_baseline",
    "approve_milestone_value_change",
    "approve_project",
    "change_project_details",
    "close_follow_up",
    "close_grouping",
    "complete_project",
    "create_portfolio",
    "create_programme",
    "define_kpi",
    "figures_from_report",
    "file_status_report",
    "gate_figures",
    "log_communication",
    "mark_milestone_missed",
    "mark_milestone_reached",
    "measure_kpi",
    "move_project",
    "plan_milestone",
    "propose_baseline",
    "put_project_on_hold",
    "record_gate_decision",
    "register_partner",
    "register_project",
    "reject_baseline",
    "reject_milestone_value_change",
    "rename_grouping",
    "report_milestone_progress",
    "request_milestone_value_change",
    "reschedule_milestone",
    "resume_project",
    "revise_kpi",
    "start_project",
    "terminate_project",
]
