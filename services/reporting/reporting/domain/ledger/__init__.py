"""Folding a project's facts (events from every service, in the order they were recorded) into its books on a
given date.

"As of D" is effective-dated, with everything known now (corrections included): each fact counts from its business
date when it has one (a milestone is planned value once due, progress from its ``as_of`` date, a reached milestone
from its ``reached_on``, a work sheet's cost from its approval date, an expense from its approval, goods from their
receipt, a tranche from its availability date, a status change from its date, a status report from its meeting, an
estimate to complete from its ``as_of``), else from the day it was recorded (approved budget changes, commitments,
invoice approvals). The project's identity, its milestone plan, its budget baseline and its approved performance
measurement baselines (PMB: each version says itself from which date it is in force) hold at every date. What was
*known* at a moment is what gate decisions keep in their snapshot.

Cost, accrual basis (what AC adds up, in the project's currency):

* approved work sheets from their approval date (reversals from theirs): people's as ``labour``, subcontractors' as
  ``subcontracting``;
* approved expense claims from ``approved_on``, in the claim's category (a rejected or never approved claim is no
  cost);
* goods, licences and services received against a commitment from ``received_on``, in the receipt's category, minus
  a reversal from ``reversed_on``;
* the part of an approved supplier invoice (before tax, after credit notes) that the work sheets and receipts it
  cites do not back (the match's ``backed`` figure covers both), so nothing is counted twice; in the category of the
  commitment it draws on (``subcontracting`` when unknown).

Cost, cash basis (:attr:`ProjectBook.cash_cost`): what was paid out by the date: invoices paid (the net share of each
payment, ``amount x net / total``, booked), expenses reimbursed (``paid_on``), and people's approved work sheets from
their approval (payroll, paid as the work is done). Subcontractors' work sheets and goods receipts are paid through
their invoices, so they are not counted apart.

Currencies (the rule of :mod:`shared.contracts.common`): an amount counts in the project's currency, as entered when
it is in it, else at its ``booked`` amount (converted once by the producing service at a dated rate). An invoice's
other amounts (total, credit notes, payments) are converted at its booking's rate; its match figures are already in
the project's currency. A commitment's expected invoices are booked pro rata of its booking. An amount in another
currency without a booking is never added and never dropped: it is listed in :attr:`ProjectBook.unconverted` with
what it is and its currency (the cash side of an unconverted expense is not listed twice).

The package, by concern: the stored facts (:mod:`.facts`), the books of the project (:mod:`.project`), of its
entities (:mod:`.entities`: milestones, commitments, tranches, KPIs, invoices) and of its baselines and estimates
(:mod:`.baselines`), how an amount counts (:mod:`.costs`: booking, currency, category) and the reference fold
(:mod:`.fold`). :mod:`reporting.domain.books` keeps the same books as facts arrive. Every public name is re-exported
here: ``from reporting.domain.ledger import ProjectBook, book``.
"""

from reporting.domain.ledger.baselines import (
    EstimateBook,
    PmbItem,
    PmbVersion,
    estimate_of,
    later_estimate,
    pmb_version,
    with_version,
)
from reporting.domain.ledger.costs import booked_terms, effective, sheet_category, unconverted_label
from reporting.domain.ledger.entities import (
    Amount,
    CommitmentBook,
    InvoiceBook,
    KpiBook,
    MilestoneBook,
    TrancheBook,
    received_invoice,
)
from reporting.domain.ledger.facts import REGISTRIES, Fact, end_of
from reporting.domain.ledger.fold import book
from reporting.domain.ledger.project import ProjectBook, apply_allocation

__all__ = [
    "REGISTRIES",
    "Amount",
    "CommitmentBook",
    "EstimateBook",
    "Fact",
    "InvoiceBook",
    "KpiBook",
    "MilestoneBook",
    "PmbItem",
    "PmbVersion",
    "ProjectBook",
    "TrancheBook",
    "apply_allocation",
    "book",
    "booked_terms",
    "effective",
    "end_of",
    "estimate_of",
    "later_estimate",
    "pmb_version",
    "received_invoice",
    "sheet_category",
    "unconverted_label",
    "with_version",
]
