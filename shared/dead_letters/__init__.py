"""Dead letters an operator can act on: what a consumer could not apply, kept with its record, listed, shown and
redriven through the consumer's own path once the cause is fixed.

* :mod:`shared.dead_letters.store`: the ``dead_letters`` and ``dead_letter_redrives`` tables (written by
  :mod:`shared.consumer` in the transaction that dead-letters a record) and the queries over them;
* :mod:`shared.dead_letters.redrive`: re-applying a dead letter, exactly once;
* :mod:`shared.dead_letters.api`: ``/operations/dead-letters`` on every service.

This module imports nothing, so :mod:`shared.consumer` can use the store without an import cycle.
"""
