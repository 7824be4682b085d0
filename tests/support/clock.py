"""One business day for a whole test session.

Test modules take dates when they are imported (``TODAY + timedelta(days=30)`` as a due date) while the services
they start in process take today from their executor's clock when a request arrives. A run that crosses midnight
UTC would then compare yesterday's expectations with today's answers. So the session has one day, taken once:
``TODAY``, and the services started in process read a clock that never passes the end of that day
(:func:`session_now`, installed over :class:`shared.commands.SystemClock` by ``tests/conftest.py``). Before midnight
this is the real clock to the microsecond; after it, the last instant of the session's day. Services started as
processes (the chaos worlds, the compose stack) keep the real clock, and their tests take dates when they run."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

TODAY: date = datetime.now(UTC).date()
"""The session's business day (UTC, the services' calendar)."""

END_OF_DAY = datetime.combine(TODAY, time.max, UTC)


def session_now() -> datetime:
    """Now, but never past the end of the session's day."""
    return min(datetime.now(UTC), END_OF_DAY)
