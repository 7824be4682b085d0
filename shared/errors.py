"""The error hierarchy every service raises; :mod:`shared.web` maps it to problem+json in one place.

Domain errors carry no HTTP status: the mapping lives at the edge.
"""

from __future__ import annotations


class PMOError(Exception):
    """Base of every error the services raise on purpose."""

    title = "Error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidCommandError(PMOError):
    """The command is well-formed but breaks a rule about its own content (e.g. end before start)."""

    title = "Invalid command"


class RuleViolationError(PMOError):
    """The command conflicts with the aggregate's current state (e.g. completing a proposed project)."""

    title = "Rule violated"


class NotFoundError(PMOError):
    """The addressed aggregate or resource does not exist."""

    title = "Not found"


class ConcurrencyError(PMOError):
    """Another command changed the aggregate first: the expected version no longer holds."""

    title = "Concurrent modification"

    def __init__(self, detail: str, *, expected: int | None = None, actual: int | None = None) -> None:
        super().__init__(detail)
        self.expected = expected
        self.actual = actual


class PreconditionFailedError(ConcurrencyError):
    """The request's precondition (``If-Match``) does not hold: the aggregate is no longer at the version the caller
    read (RFC 9110's 412; a race lost without a precondition stays a plain :class:`ConcurrencyError`)."""

    title = "Precondition failed"


class DuplicateError(PMOError):
    """A value that must be unique is already taken (e.g. a project code in its portfolio)."""

    title = "Duplicate"


class IdempotencyKeyReusedError(PMOError):
    """An ``Idempotency-Key`` was sent again with a different request."""

    title = "Idempotency key reused"


class UnavailableError(PMOError):
    """A dependency (database, broker) cannot be reached; the command was not applied."""

    title = "Service unavailable"


class SeparationOfDutiesError(RuleViolationError):
    """The acting person may not take this step: they took (or are the subject of) another step it must be kept
    apart from (e.g. approving an invoice they received). A rule violation, answered as such."""

    title = "Separation of duties"


class TooLargeError(PMOError):
    """A request or the event it would record exceeds a size limit (``shared.limits``); nothing was applied."""

    title = "Too large"
