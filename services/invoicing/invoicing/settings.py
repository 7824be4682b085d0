"""Settings of the invoicing service (``PMO_`` environment variables)."""

from decimal import Decimal

from pydantic import Field

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The shared settings, how often the matcher looks for invoices to match again, from which totals receipt,
    approval and payment need different people, and above which amount an expense needs its receipt."""

    matcher_poll_interval: float = Field(
        default=30,
        gt=0,
        le=600,
        description="the matcher's safety poll: seconds it waits when nothing is left to match again and no commit "
        "or notification wakes it",
    )
    invoice_dual_control_thresholds: dict[str, Decimal] = Field(
        default_factory=dict,
        description='per currency (JSON, e.g. {"EUR": "10000"}), the invoice total from which receipt, approval '
        "and payment are three different people; a currency not named: every invoice (threshold 0)",
    )
    expense_receipt_threshold: Decimal = Field(
        default=Decimal(0),
        ge=0,
        le=Decimal(10) ** 12,
        description="the amount in the project's currency above which an expense claim needs a receipt reference "
        "(0: every claim)",
    )
