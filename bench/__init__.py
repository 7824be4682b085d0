"""Benchmarks of the event machinery and the write path. They print figures and record them; they assert nothing.

``python -m bench`` runs them all; ``python -m bench.append`` (``.relay``, ``.http``) runs one. See ``bench/README.md``.
"""
