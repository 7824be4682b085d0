"""A project's books kept as its facts arrive, readable as of any date without refolding its history.

:class:`Books` takes the project's facts one at a time (:meth:`Books.apply`) and answers :meth:`Books.at`: the
:class:`~reporting.domain.ledger.ProjectBook` of a business date, with the same figures as
:func:`reporting.domain.ledger.book` over the same facts. The ledger's fold stays the reference (and the path that
lists every event behind a figure); the books are what reports read.

What is kept, per component:

* amounts that only add up (approved work-sheet cost and its reversals, approved expenses, goods received and their
  reversals, expenses reimbursed): cumulative sums per currency and kind of cost and category (``labour``,
  ``expense:travel``, ``goods:materials``, ``cash:expense``) by effective date (``at`` bisects for the date), with
  the latest few event ids of each day as evidence; their number grows with the calendar, not with the facts. An
  expense's approval and reimbursement and a receipt's reversal take the amount and category of their claim or
  receipt (``claims``, ``receipts``: one short entry each; the same service publishes both, in order);
* amounts in another currency than the project's without a booking (``foreign``): kept as they came (rare), listed
  by ``at`` as unconverted;
* entities (milestones, commitments, funding tranches, invoices, KPIs, follow-ups): their versions, each with its
  order key and effective date, folded by ``at`` in the ledger's order; they are bounded by the entity's life;
* the project's registrations, lifecycle transitions, budget baselines and approved changes, approved performance
  baselines, estimates to complete, allocation checks: few, folded by ``at`` in the ledger's order;
* status reports: sorted by meeting date, with the latest recorded one per prefix (``at`` bisects).

Order: the ledger folds a project's facts by (recorded time, producing service, position), the position being the
order the facts were stored in. Each fact here gets the key (recorded time in microseconds, the service's rank, its
place among that service's facts), and every component is kept sorted by that key, so the books do not depend on
the order facts arrive in (facts of one project come from four topics, one partition each, and a batch of one topic
may be applied before an earlier-recorded batch of another): a live consumer and a replay store the same books. Costs
recorded before the project's registration (which the ledger ignores: no currency yet) wait in ``pending`` until a
registration recorded before them arrives.

Known difference: the ledger counts a cost or an invoice in the currency of the registration in force when it was
recorded; the books in the currency of the latest registration. They differ only for a project registered twice in
two currencies, which the projects service refuses.

The package, by concern: :class:`Books` (:mod:`.book`), each fact's order key and the rows kept of it (:mod:`.keys`),
recording a fact (:mod:`.recording`), the costs' cumulative sums by day (:mod:`.costs`), the entity components
(:mod:`.entities`), reading the books on a date (:mod:`.reading`) and their JSON (:mod:`.encoding`).
"""

from reporting.domain.books.book import Books

__all__ = ["Books"]
