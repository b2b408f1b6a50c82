"""Attention sparsification (arXiv 2304.04397, docs/maths.md §8): column selection and sparsify-then-solve.

:mod:`.selection` reduces X ∈ R^{n×d} (d ≫ n) to m reweighted columns whose attention
matrix stays close to X's (X held dense on a backend or sparse on the host by :mod:`.operand`);
:mod:`.reduced` applies the same selection to the features of
an attention-regression problem and solves the m×m problem.
"""

from .reduced import ReducedSolve, planted_wide, sparsify_then_solve
from .selection import (
    BASELINES, DETERMINISTIC, METHODS, RANDOMIZED, Sparsification, SparsificationWarning, attention,
    attention_error, attention_instance, default_m, sample_sizes, sparsify,
)

__all__ = [
    "BASELINES", "DETERMINISTIC", "METHODS", "RANDOMIZED", "ReducedSolve", "Sparsification",
    "SparsificationWarning", "attention", "attention_error", "attention_instance", "default_m",
    "planted_wide", "sample_sizes", "sparsify", "sparsify_then_solve",
]
