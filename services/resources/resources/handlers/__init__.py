"""The use cases of the resources service: one function per command, called by the routes (and by anything else
that runs a command: a background task, a test).

Each gathers the facts its command needs through a small reading interface (:class:`ResourceFacts`), builds the
domain command, runs it through the executor port (one command, one transaction) and returns the
:class:`CommandOutcome` whose body is the view of :mod:`resources.views`.

Commands that need another aggregate's facts carry them: a work sheet command the default rates of the
resource's role, an allocation command its department's over-allocation policy. The domain refuses the command
(409, retry) if the resource changed role or department in between. Facts consumed from other services' topics
travel the same way: a new allocation and a sheet's submission or correction carry their project as this service
knows it (``None`` when it has not seen it: refused, 422), an approval the project (its currency) and the exchange
rates in force on the approval date.

The acting user (``ctx.metadata.actor``) submits, approves or rejects a work sheet, accepts a deliverable and sets a
rate: never a field of the input. Names and contact details are never part of a command's stored answer (the
idempotency table keeps answers): the name is read after the command and added to the answer.

One module per concern: :mod:`.resource` (registration, personal data, profile, skills and the resource's own
rate), :mod:`.allocations`, :mod:`.work_sheets` and :mod:`.reference_data` (role rates, department policies); the
reading interface is :mod:`.facts`, how each runs its command and answers :mod:`.running`. Every public name is
re-exported here: ``from resources import handlers; handlers.allocate``.
"""

from resources.handlers.allocations import Period, allocate, change_allocation, end_allocation
from resources.handlers.facts import ResourceFacts
from resources.handlers.reference_data import set_over_allocation_policy, set_role_rate
from resources.handlers.resource import (
    PersonalDataStore,
    PersonalDataWrite,
    Registration,
    change_capacity,
    change_profile,
    erase_personal_data,
    record_certification,
    record_skill,
    record_training,
    register_resource,
    replace_personal_data,
    set_rate,
)
from resources.handlers.running import Outcome, View
from resources.handlers.work_sheets import (
    Deliverable,
    approve_work_sheet,
    correct_work_sheet,
    reject_work_sheet,
    submit_work_sheet,
)

__all__ = [
    "Deliverable",
    "Outcome",
    "Period",
    "PersonalDataStore",
    "PersonalDataWrite",
    "Registration",
    "ResourceFacts",
    "View",
    "allocate",
    "approve_work_sheet",
    "change_allocation",
    "change_capacity",
    "change_profile",
    "correct_work_sheet",
    "end_allocation",
    "erase_personal_data",
    "record_certification",
    "record_skill",
    "record_training",
    "register_resource",
    "reject_work_sheet",
    "replace_personal_data",
    "set_over_allocation_policy",
    "set_rate",
    "set_role_rate",
    "submit_work_sheet",
]
