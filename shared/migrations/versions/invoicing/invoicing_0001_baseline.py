"""The invoicing service's own tables (``invoicing.tables.DDL`` when versioned migrations began).

The first revision of the ``invoicing`` branch.

Every statement is ``IF NOT EXISTS``: a schema made by the start-time DDL of the releases before versioned
migrations is adopted as it is, with its data, and stamped at this revision.

Revision ID: invoicing_0001
Revises:
Create Date: 2027-01-04
"""

from __future__ import annotations

from alembic import op

revision = "invoicing_0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = ("invoicing",)
depends_on: str | None = None

STATEMENTS = [
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
    """
        CREATE TABLE IF NOT EXISTS known_rates (
            base         text NOT NULL,
            quote        text NOT NULL,
            effective_on date NOT NULL,
            rate         numeric NOT NULL,
            source       text NOT NULL,
            PRIMARY KEY (base, quote, effective_on)
        )
    """,
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


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the first revision is not undone: drop the schema (and rebuild it by migrating)")
