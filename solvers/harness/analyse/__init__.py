"""Records in, one :class:`~solvers.harness.analyse.analysis.Analysis` out: slope fits and verdicts,
cost models, convergence and the study across sizes, the summary sentences, the sparsification
summaries and the race summary. Reads :mod:`solvers.harness.records` and :mod:`solvers.harness.claims` only."""
