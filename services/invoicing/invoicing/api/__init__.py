"""HTTP API of the invoicing service."""

from fastapi import APIRouter

from invoicing.api import commands, queries

router = APIRouter()
router.include_router(commands.router)
router.include_router(queries.router)
