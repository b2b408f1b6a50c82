"""What the harness tests, stated once: the claim's exponents per stage, the sweeps, the
cost-model terms, the solvers and targets of the convergence measurements, and the verdict
rule (the band around a claimed exponent a fit must lie in).

Every stage of the pipeline may import this module (it imports nothing of the harness):
measuring plans sizes and predicts call times from it, analysing judges the fits against
it, rendering names its terms. The standard start of every planted solve is not here: it is
:data:`solvers.problem.START_NOISE` / :data:`solvers.problem.START_SEED`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

OMEGA_CLASSICAL = 3.0
OMEGA_BEST = 2.371552  # best known bound on ω (Williams, Xu, Xu, Zhou 2024)


@dataclass(frozen=True)
class Term:
    """One term n^n_power · d^d_power of a cost model.

    Attributes
    ----------
    name : str
        How the report writes it (``"n²d"``).
    n_power, d_power : int
        Exponents of n and d.
    named : bool
        Whether the claim's bound names it: T_mat(n,n,d) (n²d), T_mat(n,d,d) (nd²), d^{2ω} (d⁶).
    meaning : str
        What work it stands for.
    """

    name: str
    n_power: int
    d_power: int
    named: bool
    meaning: str

    def __call__(self, n: float, d: float) -> float:
        return float(n) ** self.n_power * float(d) ** self.d_power

    def power(self, axis: str) -> int:
        """The exponent along ``axis`` ("n" or "d")."""
        return self.n_power if axis == "n" else self.d_power


TERMS: dict[str, Term] = {term.name: term for term in (
    Term("n²d", 2, 1, True, "T_mat(n,n,d): logits and S·V products"),
    Term("nd²", 1, 2, True, "T_mat(n,d,d): A·X and A3·Y products"),
    Term("d⁶", 0, 6, True, "d^{2ω}: Cholesky of the d²×d² Hessian"),
    Term("n²", 2, 0, False, "n² elementwise work: exp, softmax, residuals"),
    Term("d³", 0, 3, False, "d×d products and solves"),
    Term("d⁴", 0, 4, False, "d²×d² matrix traffic, triangular solves"),
    Term("n²d²", 2, 2, False, "S·K: the n×n×d² product of the Hessian assembly"),
    Term("nd⁴", 1, 4, False, "the d²×n×d² Kronecker sum of the Hessian assembly"),
    Term("1", 0, 0, False, "fixed cost per call (dispatch, allocation)"),
)}
#: Cost-model terms: products and the n² elementwise work (first-order stages) ...
PRODUCT_TERMS = ("n²d", "nd²", "n²", "1")
#: ... the Hessian assembly: S·K (n²d²) and the Kronecker sum (n·d⁴) the claim does not name ...
ASSEMBLY_TERMS = ("n²d²", "nd⁴", "n²d", "nd²", "n²", "1")
#: ... and a whole second-order iteration: the assembly plus the d²×d² solve (d⁶).
ITERATION_TERMS = ("d⁶", *ASSEMBLY_TERMS)

#: Stage -> exponentials of n×n entries one call needs at least (the fused row blocks take one per
#: entry): with the classical flops, the work of the roofline limit (flops at the measured matrix-product
#: rate plus these at the measured ``exp`` rate).
EXP_PER_ENTRY = {"forward": 1, "gradient": 1, "y_solve": 1, "hvp": 1, "hessian_assembly": 1}

#: Sweep -> (axis varied, attribute of :class:`Claim` holding the claimed exponent). ``wide_d`` sweeps d
#: past n (d > n), where T_mat(n,d,d) ~ n·d^(ω−1) is the product the claim names.
SWEEP_AXES = {"n": ("n", "claim_n"), "d": ("d", "claim_d"), "solve_d": ("d", "claim_d"), "cross_n": ("n", "claim_n"),
              "plane": ("d", "claim_d"), "wide_d": ("d", "claim_wide")}


@dataclass(frozen=True)
class Claim:
    """What the paper's bound says about one stage, and where it is measured.

    Attributes
    ----------
    claim_n, claim_d : callable or None
        ``claim(omega)``: exponent of time against n at fixed d (resp. d at fixed n) that
        the paper's bound implies, in the regime the grids use (n ≫ d for the product
        stages). ``None`` where the stage is not swept along that axis.
    claim_wide : callable or None
        ``claim(omega)``: exponent against d at a fixed n < d (the ``wide_d`` sweep).
    regime : str
        When that exponent applies, in words (shown in the report).
    sweeps : tuple of str
        Which grid sweeps the stage takes part in: ``"n"``, ``"d"``, ``"solve_d"``, ``"cross_n"``,
        ``"plane"`` (a 2-D grid for the cost model only: no exponent is fitted along it).
    cost_terms : tuple of str
        The terms of its cost model (names in :data:`TERMS`).
    bound : tuple of str or None
        The claim's cost for this stage: the named terms (:attr:`Term.named`) whose constants
        are fitted to test the upper bound, time = O(Σ terms). ``None``: the named terms among
        ``cost_terms``.
    """

    claim_n: Callable[[float], float] | None = None
    claim_d: Callable[[float], float] | None = None
    regime: str = ""
    sweeps: tuple[str, ...] = field(default=("n", "d", "plane"))
    cost_terms: tuple[str, ...] = PRODUCT_TERMS
    claim_wide: Callable[[float], float] | None = None
    bound: tuple[str, ...] | None = None

    @property
    def bound_terms(self) -> tuple[str, ...]:
        """The named terms of the claim's cost for this stage (see :attr:`bound`)."""
        return self.bound if self.bound is not None else tuple(t for t in self.cost_terms if TERMS[t].named)


#: Second-order solvers whose single iteration is a stage ("iteration:<name>").
ITERATION_SOLVERS = ("alternating", "sketched", "joint-newton", "gauss-newton", "newton-cg")
#: The paper's method: run first, and the one the convergence statements compare against.
REFERENCE_SOLVER = "alternating"


def _iteration_claim(solver: str) -> Claim:
    matrix_free = solver == "newton-cg"
    return Claim(claim_d=None if matrix_free else (lambda omega: 2 * omega),
                 regime="dominated by the d²×d² (joint: 2d²×2d²) solve at large d" if not matrix_free
                 else "matrix-free: matrix-multiplication time per CG step",
                 sweeps=("solve_d", "cross_n") if solver == REFERENCE_SOLVER else ("solve_d",),
                 cost_terms=PRODUCT_TERMS if matrix_free else ITERATION_TERMS)


_PRODUCT = Claim(claim_n=lambda omega: 2.0, claim_d=lambda omega: omega - 2.0, claim_wide=lambda omega: omega - 1.0,
                 regime="n ≫ d: T_mat(n,n,d) ~ n²·d^(ω−2); d ≫ n: T_mat(n,d,d) ~ n·d^(ω−1)",
                 sweeps=("n", "d", "plane", "wide_d"))
#: Stage name -> its claim (the stages themselves: :data:`solvers.harness.measure.stages.STAGES`).
CLAIMS: dict[str, Claim] = {
    "forward": _PRODUCT,
    "gradient": _PRODUCT,
    "y_solve": Claim(claim_n=lambda omega: 2.0, claim_d=lambda omega: omega - 2.0,
                     regime="n ≫ d: T_mat(n,n,d) dominates T_mat(d,n,d) + d^ω",
                     cost_terms=("n²d", "nd²", "n²", "d³", "1")),
    "hvp": _PRODUCT,
    "hessian_assembly": Claim(claim_d=lambda omega: 4.0 if omega == OMEGA_CLASSICAL else omega + 1.0,
                              regime="n < d²: the d²×n×d² Kronecker product, n·d⁴ (classical)",
                              sweeps=("solve_d", "cross_n"), cost_terms=ASSEMBLY_TERMS,
                              # a part of one iteration, whose cost the claim bounds by n²d + nd² + d^{2ω}
                              bound=("d⁶", "n²d", "nd²")),
    "hessian_solve": Claim(claim_d=lambda omega: 2.0 * omega, regime="large d: d^(2ω) Cholesky of a d²×d² matrix",
                           sweeps=("solve_d",), cost_terms=("d⁶", "d⁴", "1")),
    **{f"iteration:{solver}": _iteration_claim(solver) for solver in ITERATION_SOLVERS},
}
#: Sweeps of a stage the claims do not know (asv results of another version): the two main ones.
DEFAULT_SWEEPS = ("n", "d")

#: Targets for iterations-to-ε.
EPS_LEVELS = (1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12)
#: The methods of the convergence study: the paper's (linear convergence) and the Newton-type
#: ones (those not registered in this build are left out).
LINEAR_SOLVERS = (REFERENCE_SOLVER,)
NEWTON_SOLVERS = ("joint-newton", "gauss-newton", "newton-cg", "varpro")
STUDY_SOLVERS = LINEAR_SOLVERS + NEWTON_SOLVERS
#: The target of the study's runs, and of the time-to-ε comparison.
STUDY_EPS = 1e-8

#: Done-when thresholds of issue #6 for the attention sparsification (relative error): the randomized
#: methods at m = ⌈8 n ln n⌉ draws, the deterministic one at m ≤ 4n.
RANDOMIZED_TARGET = 0.2
DETERMINISTIC_TARGET = 0.5

#: Half-width δ of the equivalence band around the expected exponent.
DEFAULT_DELTA = 0.3
#: Confidence level of the interval that must fit inside the band (0.9: TOST at 5 %).
DEFAULT_CONFIDENCE = 0.9


@dataclass(frozen=True)
class Rule:
    """The recorded options of the verdict rule.

    Attributes
    ----------
    delta : float
        Half-width of the equivalence band around the expected exponent.
    confidence : float
        Confidence level of the interval on the fitted exponent, in (0, 1).
    """

    delta: float = DEFAULT_DELTA
    confidence: float = DEFAULT_CONFIDENCE

    @classmethod
    def from_record(cls, data: dict) -> "Rule":
        """The rule stored in a measurements record (``"verdict_rule"``), else the defaults."""
        stored = data.get("verdict_rule") or {}
        return cls(float(stored.get("delta", DEFAULT_DELTA)), float(stored.get("confidence", DEFAULT_CONFIDENCE)))

    def text(self) -> str:
        """The rule in one sentence, with its options."""
        return (f"the claim **holds** only when the whole {self.confidence:.0%} confidence interval of the fitted "
                f"exponent lies inside [expected − {self.delta:g}, expected + {self.delta:g}] (equivalence test"
                + (", i.e. two one-sided tests at 5 %" if math.isclose(self.confidence, 0.9) else "")
                + "); it **does not hold** when the interval lies entirely outside that band; otherwise it is "
                "**inconclusive**")
