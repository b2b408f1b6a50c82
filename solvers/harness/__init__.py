"""What measures the package and reports on the claim, as a pipeline with one contract:

    measure → records ← analyse ← render

:mod:`.measure` times stages, solves and races and writes records; :mod:`.records` is the
one schema (with the atomic writer and the reader of old files); :mod:`.analyse` turns a
measurements record into one :class:`~solvers.harness.analyse.analysis.Analysis`;
:mod:`.render` writes Markdown and figures from it. :mod:`.claims` states what is tested
(exponents, sweeps, cost-model terms, targets) for every stage. ``tests/test_import_direction.py``
keeps the imports flowing this way.
"""
