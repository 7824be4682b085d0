"""The invoicing service's tables (their DDL) and how values are keyed in them.

Reference data consumed from other services' topics (the facts invoices are matched against):

* ``approved_sheets``: work sheets approved on ``pmo.resources.v1``, with their cost and the agreed amount of each
  accepted deliverable; ``in_force`` turns false when the approval is reversed (a correction replaces it);
* ``known_commitments``: commitments of ``pmo.budget.v1`` with their vendor, reference, amount (and its booking in
  the project's currency) and status;
* ``known_projects`` / ``known_milestones``: projects of ``pmo.projects.v1`` with their currency, status and
  manager, and their milestones (expenses and goods receipts are only recorded on a project known here);
* ``known_rates``: exchange rates of ``pmo.budget.v1`` (``exchange-rate-recorded``), one per pair and day.

Query tables written from the invoices' state in the command's transaction (``CommandExecutor.rebuild`` gives
them again from the event table):

* ``invoices``: one row per invoice; ``invoices_vendor_number_key`` makes a vendor's invoice number unique (credit
  notes are recorded on the invoice they credit, never as a row here, so they are not subject to it);
* ``invoice_citations``: the work each invoice line bills; ``invoice_receipts``: the goods receipts each line bills,
  in the order it cites them;
* ``project_policies``: each project's matching tolerance;
* ``goods_receipts``: one row per goods receipt; ``expenses``: one row per expense claim.

``rematch_queue``: what to match again, because a fact it depends on changed: a sheet approved or reversed, a
commitment made, adjusted or cancelled (written by the consumers, in their transaction), an invoice received,
rejected or credited, a tolerance set, a goods receipt recorded or reversed (written by the projector, in the
command's transaction). The matcher
(:mod:`invoicing.matcher`) works it off. Each row carries a sequence number renewed on every enqueue, so a fact
that arrives while its row is being worked off leaves the row in place for another pass.
"""

from __future__ import annotations

from uuid import UUID

from invoicing import domain
from shared.reference_rates import KNOWN_RATES_DDL

TABLES = ("invoices", "invoice_citations", "invoice_receipts", "project_policies", "goods_receipts", "expenses")
"""The query tables a rebuild empties and writes again from the event table."""
RELEASED = tuple(s.value for s in domain.RELEASED)
AWAITING = tuple(s.value for s in domain.AWAITING_DECISION)
OPEN = tuple(s.value for s in domain.OPEN)

DDL = [
    """
    CREATE TABLE IF NOT EXISTS approved_sheets (
        sheet_id     uuid PRIMARY KEY,
        project_id   uuid NOT NULL,
        resource_id  uuid NOT NULL,
        vendor_id    text,
        version      integer NOT NULL,
        week         text NOT NULL,
        cost         numeric NOT NULL,
        currency     text NOT NULL,
        deliverables jsonb NOT NULL,
        in_force     boolean NOT NULL,
        approved_on  date NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS known_commitments (
        commitment_id uuid PRIMARY KEY,
        project_id    uuid NOT NULL,
        vendor        text NOT NULL,
        reference     text NOT NULL,
        amount        numeric NOT NULL,
        currency      text NOT NULL,
        status        text NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS known_commitments_reference ON known_commitments (project_id, lower(btrim(reference)))",
    "ALTER TABLE known_commitments ADD COLUMN IF NOT EXISTS booked_amount numeric",
    "ALTER TABLE known_commitments ADD COLUMN IF NOT EXISTS booked_currency text",
    "ALTER TABLE approved_sheets ADD COLUMN IF NOT EXISTS booked jsonb",
    """
    CREATE TABLE IF NOT EXISTS known_projects (
        project_id uuid PRIMARY KEY,
        currency   text NOT NULL,
        status     text NOT NULL,
        manager    text NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS known_milestones (
        milestone_id uuid PRIMARY KEY,
        project_id   uuid NOT NULL
    )
    """,
    KNOWN_RATES_DDL,
    """
    CREATE TABLE IF NOT EXISTS invoices (
        invoice_id           uuid PRIMARY KEY,
        project_id           uuid NOT NULL,
        vendor               text NOT NULL,
        vendor_key           text NOT NULL,
        number               text NOT NULL,
        number_key           text NOT NULL,
        status               text NOT NULL,
        issued_on            date NOT NULL,
        due_on               date NOT NULL,
        currency             text NOT NULL,
        commitment_reference text NOT NULL,
        commitment_key       text NOT NULL,
        net                  numeric NOT NULL,
        backed               numeric NOT NULL,
        total                numeric NOT NULL,
        credited             numeric NOT NULL,
        paid                 numeric NOT NULL,
        due                  numeric NOT NULL,
        received_position    bigint NOT NULL,
        version              integer NOT NULL,
        updated_at           timestamptz NOT NULL,
        doc                  jsonb NOT NULL,
        CONSTRAINT invoices_vendor_number_key UNIQUE (vendor_key, number_key)
    )
    """,
    "ALTER TABLE invoices ADD COLUMN IF NOT EXISTS matched_currency text",
    "ALTER TABLE invoices ADD COLUMN IF NOT EXISTS matched_net numeric",
    "CREATE INDEX IF NOT EXISTS invoices_project ON invoices (project_id, status)",
    "CREATE INDEX IF NOT EXISTS invoices_commitment ON invoices (project_id, commitment_key)",
    "CREATE INDEX IF NOT EXISTS invoices_due ON invoices (due_on)",
    """
    CREATE TABLE IF NOT EXISTS invoice_citations (
        invoice_id  uuid NOT NULL,
        line        integer NOT NULL,
        sheet_id    uuid NOT NULL,
        deliverable integer
    )
    """,
    "CREATE INDEX IF NOT EXISTS invoice_citations_invoice ON invoice_citations (invoice_id)",
    "CREATE INDEX IF NOT EXISTS invoice_citations_sheet ON invoice_citations (sheet_id)",
    """
    CREATE TABLE IF NOT EXISTS invoice_receipts (
        invoice_id uuid NOT NULL,
        line       integer NOT NULL,
        position   integer NOT NULL,
        receipt_id uuid NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS invoice_receipts_invoice ON invoice_receipts (invoice_id)",
    "CREATE INDEX IF NOT EXISTS invoice_receipts_receipt ON invoice_receipts (receipt_id)",
    """
    CREATE TABLE IF NOT EXISTS goods_receipts (
        receipt_id      uuid PRIMARY KEY,
        project_id      uuid NOT NULL,
        commitment_id   uuid NOT NULL,
        amount          numeric NOT NULL,
        currency        text NOT NULL,
        booked_amount   numeric,
        booked_currency text,
        received_on     date NOT NULL,
        status          text NOT NULL,
        version         integer NOT NULL,
        doc             jsonb NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS goods_receipts_project ON goods_receipts (project_id, received_on)",
    """
    CREATE TABLE IF NOT EXISTS expenses (
        expense_id  uuid PRIMARY KEY,
        project_id  uuid NOT NULL,
        claimant    text NOT NULL,
        status      text NOT NULL,
        incurred_on date NOT NULL,
        claimed_at  timestamptz NOT NULL,
        version     integer NOT NULL,
        doc         jsonb NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS expenses_project ON expenses (project_id, status, claimed_at)",
    """
    CREATE TABLE IF NOT EXISTS project_policies (
        project_id uuid PRIMARY KEY,
        tolerance  numeric NOT NULL,
        version    integer NOT NULL
    )
    """,
    "CREATE SEQUENCE IF NOT EXISTS rematch_seq",
    """
    CREATE TABLE IF NOT EXISTS rematch_queue (
        kind           text NOT NULL,
        key            text NOT NULL,
        seq            bigint NOT NULL DEFAULT nextval('rematch_seq'),
        cause          text,
        correlation_id text,
        attempts       integer NOT NULL DEFAULT 0,
        not_before     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (kind, key)
    )
    """,
]


def vendor_key(vendor: str) -> str:
    return domain.document_key(vendor)


def commitment_key(reference: str) -> str:
    return domain.document_key(reference)


def number_key(number: str) -> str:
    return domain.document_key(number)


def commitment_queue_key(project_id: UUID, reference: str) -> str:
    return f"{project_id}:{commitment_key(reference)}"


class Rematch:
    """Kinds of ``rematch_queue`` rows: what changed, hence which invoices to match again."""

    INVOICE = "invoice"  # key: the invoice id
    SHEET = "sheet"  # key: the sheet id; the invoices citing it
    COMMITMENT = "commitment"  # key: "<project id>:<reference, case-folded>"; the invoices drawing on it
    PROJECT = "project"  # key: the project id; all its invoices awaiting a decision
    RECEIPT = "receipt"  # key: the receipt id; the invoices citing it
