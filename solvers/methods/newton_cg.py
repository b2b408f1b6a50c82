"""Matrix-free trust-region Newton–CG (Steihaug–Toint) on the joint variable (x, y).

Each iteration approximately minimises the quadratic model
m(p) = gᵀp + ½ pᵀHp over ‖p‖ ≤ Δ by conjugate gradients, where every product Hp is the
exact joint Hessian–vector product :meth:`solvers.oracle.Oracle.hvp` (a few n×n×d and n×d×d
matrix products, docs/maths.md §5), in whichever layout the problem has (dense, row-blocked,
sharded). No d²×d² array is ever formed, so an iteration costs
(CG steps) × T_mat(n, n, d) — matrix-multiplication time without the d^{2ω} solve.

CG stops at the trust-region boundary, on negative curvature (then it takes the better of
the two boundary points along that direction), or when the model residual falls below
η‖g‖ with the Eisenstat–Walker forcing term η (:func:`forcing_term`). The predicted
decrease comes from CG's recurrences (no extra product), and all products of one outer
iteration share the iterate's oracle (its forward pass and per-iterate cache). The step is
accepted when the actual decrease is at least ``accept`` times the predicted one; the
radius is quartered after a poor step and doubled after a good step on the boundary.
A rejected step still counts as an iteration (its history row repeats the iterate).
Written once with ``problem.xp``, so it runs on every backend.

Documented accuracy (float64, tested): from starts near the planted minimiser it reaches
L ≤ 1e-14 (L ≈ 1e-29 on planted(128, 16, seed=1) in 21 iterations); each CG stop reason is
counted in ``info["stops"]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, NamedTuple

from .. import check
from ..backends import Backend, host_floats
from ..loop import IterativeSolver, State, StepFailed, machine_eps
from ..oracle import Oracle
from ..problem import Problem
from ..rowterms import join, split
from .damping import FLOOR_GRADIENT_CUT, FLOOR_TRIALS


class CGResult(NamedTuple):
    """A Steihaug–CG step: ``p``, why CG stopped, products used, the model decrease −m(p) > 0, and ‖p‖."""

    p: Any
    reason: str
    iterations: int
    predicted: float
    norm: float


def steihaug_cg(xp: Any, matvec: Callable[[Any], Any], g: Any, radius: float, tol: float,
                max_iter: int, *, floats: Callable[..., tuple[float, ...]] | None = None,
                gg: float | None = None) -> CGResult:
    """Approximate minimiser of m(p) = gᵀp + ½ pᵀHp subject to ‖p‖ ≤ radius (Steihaug–Toint CG).

    One host synchronisation per CG step: the CG arithmetic (α, β, the next p and r) stays
    on the device, and only the scalars that steer the loop — the curvature dᵀHd, the next
    residual ‖r‖², the next ‖p‖², and pᵀd, dᵀd, pᵀHd for the boundary — are fetched, all in
    one transfer (``floats``). The next iterate is computed before it is known to be
    needed; that costs two vector updates, never a product with H.

    The model value comes from CG's own recurrences, without another product with H: at a
    CG iterate m(p) = ½ gᵀp, and on the way to the boundary along d,
    m(p + τd) = m(p) + τ(gᵀd + pᵀHd) + ½ τ² dᵀHd with Hd already at hand. On negative
    curvature both boundary points p + τ±·d are candidates and the one with the lower model
    value is taken; the roots are computed without cancellation.

    Parameters
    ----------
    xp : module
        Array namespace of ``g``.
    matvec : callable
        p ↦ H p for flat vectors.
    g : 1-D array
        Gradient.
    radius : float
        Trust-region radius.
    tol : float
        Stop when the model gradient H p + g has norm below this.
    max_iter : int
        Limit on CG iterations (Hessian–vector products).
    floats : callable, optional
        ``floats(*zero_d_arrays)`` → Python floats in one transfer
        (:func:`solvers.backends.host_floats`); default one ``float()`` each.
    gg : float, optional
        gᵀg when the caller knows it already (saves a synchronisation).

    Returns
    -------
    CGResult
        ``reason`` is one of ``"converged"``, ``"boundary"``, ``"negative curvature"``, ``"max_cg"``.
    """
    if floats is None:
        def floats(*values: Any) -> tuple[float, ...]:
            return tuple(float(v) for v in values)
    p = xp.zeros_like(g)
    r = g
    direction = -r
    rr = floats(xp.sum(g * g))[0] if gg is None else gg
    if math.sqrt(rr) <= tol:
        return CGResult(p, "converged", 0, 0.0, 0.0)
    pp = model_p = 0.0  # ‖p‖² and m(p) = ½ gᵀp at the current CG iterate
    for k in range(1, max_iter + 1):
        Hd = matvec(direction)
        curvature_ = xp.sum(direction * Hd)
        alpha_ = rr / xp.abs(curvature_)  # the sign is tested on the host; |·| keeps p_next finite
        p_next, r_next = p + alpha_ * direction, r + alpha_ * Hd
        curvature, rr_next, pp_next, gp_next, pd, dd, slope = floats(
            curvature_, xp.sum(r_next * r_next), xp.sum(p_next * p_next), xp.sum(g * p_next),
            xp.sum(p * direction), xp.sum(direction * direction), xp.sum(g * direction + p * Hd))
        if curvature <= 0 or pp_next >= radius * radius:
            def model(tau: float) -> float:
                return model_p + tau * slope + 0.5 * tau * tau * curvature

            roots = _boundary_roots(pp, pd, dd, radius)
            tau = min(roots, key=model) if curvature <= 0 else max(roots)
            reason = "negative curvature" if curvature <= 0 else "boundary"
            return CGResult(p + tau * direction, reason, k, -model(tau), radius)
        p, r, pp, model_p = p_next, r_next, pp_next, 0.5 * gp_next
        if math.sqrt(rr_next) <= tol:
            return CGResult(p, "converged", k, -model_p, math.sqrt(pp))
        direction = -r + (rr_next / rr) * direction
        rr = rr_next
    return CGResult(p, "max_cg", max_iter, -model_p, math.sqrt(pp))


def _boundary_roots(pp: float, pd: float, dd: float, radius: float) -> tuple[float, float]:
    """The two τ with ‖p + τ d‖ = radius (one ≤ 0 ≤ the other), without cancellation.

    With a = dᵀd, b = 2 pᵀd, c = pᵀp − radius² ≤ 0: q = −(b + sign(b)·√(b² − 4ac))/2, roots q/a and c/q.
    """
    a, b, c = dd, 2.0 * pd, pp - radius * radius
    q = -0.5 * (b + math.copysign(math.sqrt(max(b * b - 4.0 * a * c, 0.0)), b))
    if q == 0.0:
        return 0.0, 0.0
    return q / a, c / q


def forcing_term(gnorm: float, previous_gnorm: float | None, previous_eta: float | None,
                 eta_max: float = 0.5) -> float:
    """Eisenstat–Walker forcing term (their choice 2, γ = 0.9, α = 2) with its safeguard.

    η = γ (‖g_k‖/‖g_{k−1}‖)², raised to γ η_{k−1}² when that exceeds 0.1, capped at ``eta_max``:
    loose solves far from a solution, superlinear convergence near one. CG stops when the
    model residual ‖Hp + g‖ ≤ η‖g‖.
    """
    if previous_gnorm is None or previous_eta is None:
        return eta_max
    eta = 0.9 * (gnorm / previous_gnorm) ** 2
    safeguard = 0.9 * previous_eta ** 2
    if safeguard > 0.1:
        eta = max(eta, safeguard)
    return min(eta, eta_max)


@dataclass
class TrustRegion:
    """Radius bookkeeping of a trust-region method: the radius, the forcing term, counters."""

    radius: float
    eta: float | None = None
    previous_gnorm: float | None = None
    cg_iterations: int = 0
    rejected: int = 0
    stops: dict[str, int] = field(default_factory=dict)
    #: Consecutive steps rejected at the rounding floor of the loss (:func:`trust_region_step`).
    floor_rejected: int = 0

    def update(self, cg: CGResult, step_norm: float, ratio: float, accepted: bool, gnorm: float,
               eta: float) -> "TrustRegion":
        """The bookkeeping after a step with gain ratio ``ratio``: radius ×¼ when poor, ×2 when good on the boundary."""
        radius = self.radius
        if not ratio >= 0.25:
            radius = 0.25 * min(radius, step_norm)
        elif ratio > 0.75 and cg.reason in ("boundary", "negative curvature"):
            radius = 2.0 * radius
        return TrustRegion(radius, eta if accepted else self.eta, gnorm if accepted else self.previous_gnorm,
                           self.cg_iterations + cg.iterations, self.rejected + (not accepted),
                           {**self.stops, cg.reason: self.stops.get(cg.reason, 0) + 1})


@dataclass
class NewtonCGState(State):
    """The iterate, the trust-region bookkeeping, and the iterate's oracle."""

    region: TrustRegion
    oracle: Oracle = field(kw_only=True)


#: At the rounding floor of the loss (:data:`solvers.methods.damping.FLOOR_GRADIENT_CUT`) the model is solved to this
#: relative residual (the forcing term there); each trial there that does not cut the gradient quarters the radius.
FLOOR_FORCING = 1e-3


def trust_region_step(problem: Problem, matvec: Callable[[Any], Any], g: Any, gnorm: float, loss: float,
                      region: TrustRegion, trial_loss: Callable[[Any], float], max_cg: int,
                      accept: float, min_radius: float,
                      trial_gnorm: Callable[[], float] | None = None) -> tuple[bool, TrustRegion]:
    """One Steihaug–CG trust-region step; ``(accepted, new bookkeeping)``.

    ``trial_loss(p)`` evaluates the candidate x + p (the caller keeps what it needs of it).

    **At the rounding floor of the loss** (the model promises less than 8·eps·L, so the loss
    cannot tell a better point from this one): with ``trial_gnorm`` (‖∇L‖ at the last trial),
    the model is solved to the relative residual :data:`FLOOR_FORCING` and the step is still
    taken when the loss does not rise beyond its rounding level and ‖∇L‖ falls at least by
    :data:`FLOOR_GRADIENT_CUT` — near a minimum with L > 0 the Newton step
    keeps cutting the gradient quadratically after the loss has stopped showing it, which is
    what a stationarity target asks for (docs/maths.md §6).

    Raises
    ------
    StepFailed
        When the model promises less than the rounding level of the loss and the gradient
        does not fall either, or the radius falls below ``min_radius`` without an acceptable step.
    """
    xp = problem.xp
    eta = forcing_term(gnorm, region.previous_gnorm, region.eta)
    cg = steihaug_cg(xp, matvec, g, region.radius, eta * gnorm, max_cg,
                     floats=partial(host_floats, problem.backend), gg=gnorm * gnorm)
    rounding = 8.0 * machine_eps(problem.dtype) * abs(loss)
    if not cg.predicted > rounding:
        why = f"predicted decrease {cg.predicted:.2e} is below the rounding level of the loss {loss:.3e}"
        if trial_gnorm is None or not cg.predicted > 0:
            raise StepFailed(why)
        if eta > FLOOR_FORCING:  # the gradient is the only guide left: solve the model accurately
            eta = FLOOR_FORCING
            cg = steihaug_cg(xp, matvec, g, region.radius, eta * gnorm, max_cg,
                             floats=partial(host_floats, problem.backend), gg=gnorm * gnorm)
        trial = trial_loss(cg.p)
        if math.isfinite(trial) and trial <= loss + rounding and trial_gnorm() <= FLOOR_GRADIENT_CUT * gnorm:
            return True, region.update(cg, cg.norm, 1.0, True, gnorm, eta)
        region = replace(region.update(cg, cg.norm, -math.inf, False, gnorm, eta), floor_rejected=region.floor_rejected + 1)
        if region.floor_rejected > FLOOR_TRIALS or region.radius < min_radius:
            raise StepFailed(f"{why}, and no step down to radius {region.radius:.1e} cuts the gradient")
        return False, region
    trial = trial_loss(cg.p)
    actual = loss - trial
    ratio = actual / cg.predicted if math.isfinite(trial) else -math.inf
    accepted = ratio > accept and actual > 0
    region = region.update(cg, cg.norm, ratio, accepted, gnorm, eta)
    if not accepted and region.radius < min_radius:
        raise StepFailed(f"trust radius {region.radius:.3e} below min_radius={min_radius:g} with no decrease")
    return accepted, region


class NewtonCG(IterativeSolver):
    """Trust-region Newton–CG on (x, y) with exact Hessian–vector products, matrix-free.

    Parameters
    ----------
    radius0 : float
        Initial trust-region radius (Euclidean norm of the (x, y) step).
    max_cg : int, optional
        CG iterations per step. Default 2d² (exact in exact arithmetic).
    accept : float
        Accept a step when actual/predicted decrease exceeds this.
    min_radius : float
        Stop ("no further decrease possible") when the radius shrinks below this.
    """

    name = "newton-cg"

    def __init__(self, backend: str | Backend | None = None, *, radius0: float = 1.0, max_cg: int | None = None,
                 accept: float = 1e-4, min_radius: float = 1e-15, **common: Any) -> None:
        super().__init__(backend, **common)
        self.radius0 = check.number("radius0", radius0, above=0.0)
        self.max_cg = check.integer("max_cg", max_cg, optional=True)
        self.accept = check.number("accept", accept, at_least=0.0, below=1.0)
        self.min_radius = check.number("min_radius", min_radius, at_least=0.0)

    def init_state(self, problem: Problem, X: Any, Y: Any) -> NewtonCGState:
        return self.state_at(problem.oracle(X, Y), TrustRegion(self.radius0))

    @staticmethod
    def state_at(oracle: Oracle, region: TrustRegion) -> NewtonCGState:
        """The state at the oracle's iterate, with its loss and gradient norm (one transfer)."""
        loss, gnorm = oracle.summary()
        return NewtonCGState(oracle.X, oracle.Y, region=region, oracle=oracle, loss=loss, grad_norm=gnorm)

    def step(self, problem: Problem, state: NewtonCGState) -> NewtonCGState:
        X, Y, oracle = state.X, state.Y, state.oracle
        trials: dict[str, Oracle] = {}

        def matvec(v: Any) -> Any:
            return join(problem, *oracle.hvp(*split(problem, v)))

        def trial_loss(p: Any) -> float:
            pX, pY = split(problem, p)
            trials["point"] = problem.oracle(X + pX, Y + pY)
            return trials["point"].loss

        accepted, region = trust_region_step(problem, matvec, oracle.joint_grad, state.grad_norm, state.loss,
                                             state.region, trial_loss, self.max_cg or 2 * problem.d ** 2,
                                             self.accept, self.min_radius, lambda: trials["point"].grad_norm)
        if not accepted:
            return replace(state, region=region)
        return self.state_at(trials["point"], region)

    def info(self, state: State) -> dict[str, Any]:
        region = getattr(state, "region", None)
        return {} if region is None else {key: getattr(region, key)
                                          for key in ("radius", "cg_iterations", "rejected", "stops")}
