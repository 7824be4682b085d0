"""The invoicing domain: the invoice aggregate (one per supplier invoice) and each project's matching policy.

Pure ``decide`` / ``evolve`` over frozen dataclasses, one module per concern:

* :mod:`~invoicing.domain.invoice`: the invoice's state, statuses and amounts, and the checks every step shares;
* :mod:`~invoicing.domain.receipt`: receiving an invoice (what must add up);
* :mod:`~invoicing.domain.matching`: matching against the work done and the commitment, with the facts handed in;
* :mod:`~invoicing.domain.approval`: approval (override of a mismatch), dispute, rejection;
* :mod:`~invoicing.domain.payment`: payments and credit notes;
* :mod:`~invoicing.domain.lifecycle`: the aggregate itself, ``decide`` and ``evolve`` over all of the above;
* :mod:`~invoicing.domain.policy`: the project's matching tolerance (an aggregate of its own);
* :mod:`~invoicing.domain.goods`: goods receipts (an aggregate of their own), the third leg of a 3-way match;
* :mod:`~invoicing.domain.expenses`: expense claims (an aggregate of their own);
* :mod:`~invoicing.domain.currency`: the rate in force and bookings in the project's currency;
* :mod:`~invoicing.domain.reference`: the projects and commitments other services published, as commands need them.

Separation of duties (:class:`DualControl`): whoever records a payment never approved the invoice; at or above the
dual-control threshold of the invoice's currency (every invoice unless a threshold is configured) the approver
never received it and the payer never received it either, so receipt, approval and payment are three people;
below it, at least two. People are compared by :func:`shared.identity.same_person`.
"""

from invoicing.domain.approval import ApproveInvoice, DisputeInvoice, RejectInvoice
from invoicing.domain.currency import ExchangeRate, RecordedRate, in_force
from invoicing.domain.expenses import (
    EXPENSE,
    ApproveExpense,
    ClaimExpense,
    Expense,
    ExpenseCommand,
    ExpenseEvent,
    ExpenseStatus,
    ReimburseExpense,
    RejectExpense,
    expense_stream_id,
)
from invoicing.domain.goods import (
    GOODS_RECEIPT,
    GoodsCommand,
    GoodsEvent,
    GoodsReceipt,
    ReceiveGoods,
    ReverseGoodsReceipt,
    receipt_stream_id,
)
from invoicing.domain.invoice import (
    AWAITING_DECISION,
    OPEN,
    RELEASED,
    CreditNote,
    DualControl,
    Invoice,
    InvoiceStatus,
    MatchResult,
    Payment,
    document_key,
    same_document,
)
from invoicing.domain.lifecycle import INVOICE, Command, InvoiceEvent, decide, evolve, stream_id
from invoicing.domain.matching import (
    BACKING_TARGET,
    DEFAULT_TOLERANCE,
    MATCHER,
    MAX_TOLERANCE,
    CommitmentFact,
    EarlierBilling,
    MatchFacts,
    MatchInvoice,
    ReceiptDraw,
    ReceiptFact,
    SheetFact,
    match,
    matching_currency,
    receipt_draws,
)
from invoicing.domain.payment import RecordCreditNote, RecordPayment
from invoicing.domain.policy import (
    MATCHING_POLICY,
    MatchingPolicy,
    PolicyEvent,
    SetMatchingTolerance,
    decide_policy,
    evolve_policy,
    policy_stream_id,
)
from invoicing.domain.receipt import MAX_TAX_RATE, InvoiceDocument, LineInput, ReceiveInvoice
from invoicing.domain.reference import OpenCommitment, ProjectFact

__all__ = [
    "AWAITING_DECISION",
    "BACKING_TARGET",
    "DEFAULT_TOLERANCE",
    "EXPENSE",
    "GOODS_RECEIPT",
    "INVOICE",
    "MATCHER",
    "MATCHING_POLICY",
    "MAX_TAX_RATE",
    "MAX_TOLERANCE",
    "OPEN",
    "RELEASED",
    "ApproveExpense",
    "ApproveInvoice",
    "ClaimExpense",
    "Command",
    "CommitmentFact",
    "CreditNote",
    "DisputeInvoice",
    "DualControl",
    "EarlierBilling",
    "ExchangeRate",
    "Expense",
    "ExpenseCommand",
    "ExpenseEvent",
    "ExpenseStatus",
    "GoodsCommand",
    "GoodsEvent",
    "GoodsReceipt",
    "Invoice",
    "InvoiceDocument",
    "InvoiceEvent",
    "InvoiceStatus",
    "LineInput",
    "MatchFacts",
    "MatchInvoice",
    "MatchResult",
    "MatchingPolicy",
    "OpenCommitment",
    "Payment",
    "PolicyEvent",
    "ProjectFact",
    "ReceiptDraw",
    "ReceiptFact",
    "ReceiveGoods",
    "ReceiveInvoice",
    "RecordCreditNote",
    "RecordPayment",
    "RecordedRate",
    "ReimburseExpense",
    "RejectExpense",
    "RejectInvoice",
    "ReverseGoodsReceipt",
    "SetMatchingTolerance",
    "SheetFact",
    "decide",
    "decide_policy",
    "document_key",
    "evolve",
    "evolve_policy",
    "expense_stream_id",
    "in_force",
    "match",
    "matching_currency",
    "policy_stream_id",
    "receipt_draws",
    "receipt_stream_id",
    "same_document",
    "stream_id",
]
