"""HTTP API of the projects service: commands append events; queries read the service's own projections."""

from fastapi import APIRouter

from projects.api import commands, edits, people, queries, raid

router = APIRouter()
router.include_router(commands.router)
router.include_router(queries.router)
router.include_router(raid.router)
router.include_router(edits.router)
router.include_router(people.router)
