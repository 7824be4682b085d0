"""Disaster recovery as commands: a consistent backup and its restore (:mod:`shared.recovery.backup`), a topic
rebuilt from its event table through the relay's lock (:mod:`shared.recovery.republish`), and an event table
restored behind its topic found out and completed from it (:mod:`shared.recovery.reconcile`, with the command
path's refusal of the projects concerned in :mod:`shared.recovery.guard`). The runbook: docs/operations.md,
"Recovery runbook"."""

from __future__ import annotations


class RecoveryRefusedError(RuntimeError):
    """A recovery step refused before changing anything (a non-empty target database, another republish running,
    events on the topic that conflict with the table); the message says why and what to do."""
