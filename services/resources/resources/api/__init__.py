"""HTTP API of the resources service: commands append events; queries read the service's own tables."""

from fastapi import APIRouter

from resources.api import commands, queries

router = APIRouter()
router.include_router(commands.router)
router.include_router(queries.router)
