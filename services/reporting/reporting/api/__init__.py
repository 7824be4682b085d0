"""HTTP API of the reporting service: read models, reports, alerts."""

from fastapi import APIRouter

from reporting.api import alerts, explain, portfolio, raid, reports, status

router = APIRouter()
router.include_router(portfolio.router)
router.include_router(explain.router)  # before reports: its /explain/... paths are more specific
router.include_router(raid.router)  # before reports: /reports/raid is not a project
router.include_router(status.router)
router.include_router(reports.router)
router.include_router(alerts.router)
