"""HTTP API of the budget service."""

from fastapi import APIRouter

from budget.api import commands, queries

router = APIRouter()
router.include_router(commands.router)
router.include_router(queries.router)
