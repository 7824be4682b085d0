"""The budget service: Budgets, change requests, funding tranches and commitments (topic ``pmo.budget.v1``)."""
