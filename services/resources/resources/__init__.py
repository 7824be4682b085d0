"""The resources service: People and subcontractors, rates, allocations and work sheets (topic ``pmo.resources.v1``)."""
