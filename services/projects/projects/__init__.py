"""The projects service: portfolio, projects and their lifecycle, milestones (topic ``pmo.projects.v1``)."""
