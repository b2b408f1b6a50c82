"""The :class:`~solvers.harness.analyse.analysis.Analysis` (and the records it came from) in,
``report.md``, ``analysis.json``, the CSV and the figures out. Nothing here measures."""
