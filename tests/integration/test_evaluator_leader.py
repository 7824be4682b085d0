"""One alert evaluator per deployment: of two reporting replicas on one schema exactly one evaluates, the other
takes over when it stops, and an alert condition is raised once."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest
from fastapi import FastAPI

from tests.support.reporting.replicas import drop_schema, replica

pytestmark = pytest.mark.integration


def leads(app: FastAPI) -> bool:
    return bool(app.state.runtime.memo.get("evaluator_leader"))


async def until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_of_two_replicas_exactly_one_evaluates_and_the_other_takes_over(infra: Any) -> None:
    schema = f"t_eval_{uuid.uuid4().hex[:10]}"
    group = f"test-{uuid.uuid4().hex[:8]}"
    stack_a, stack_b = AsyncExitStack(), AsyncExitStack()
    try:
        a = await stack_a.enter_async_context(replica(infra, schema, group))
        b = await stack_b.enter_async_context(replica(infra, schema, group))
        await until(lambda: leads(a) or leads(b), 10, "no replica evaluates")
        await asyncio.sleep(3)  # the other has tried to take the lock meanwhile
        assert [leads(a), leads(b)].count(True) == 1
        leader_stack, other = (stack_a, b) if leads(a) else (stack_b, a)
        await leader_stack.aclose()  # the leader stops
        await until(lambda: leads(other), 10, "the other replica did not take over")
    finally:
        await stack_a.aclose()
        await stack_b.aclose()
        await drop_schema(infra, schema)
