"""The invoicing service: Supplier invoices matched to work done, approved and paid (topic ``pmo.invoicing.v1``)."""
