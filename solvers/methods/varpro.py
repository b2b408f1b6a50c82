"""Variable projection (Golub–Pereyra, with Kaufman's Jacobian): Gauss–Newton on X alone.

L is linear in Y: for each X the best Y is the least-squares solution Y(X) (docs/maths.md §3,
:meth:`solvers.oracle.Oracle.least_squares`). Variable projection minimises the reduced objective f(X) = L(X, Y(X))
= ‖(I − QQᵀ) B‖² (Q an orthonormal basis of range(S A3)), whose gradient is ∇_X L at (X, Y(X)). Its Gauss–Newton
matrix in Kaufman's form, 2 J_Kᵀ J_K with J_K Δ = (I − QQᵀ)(JΔ V), is the Schur complement of the joint Gauss–Newton
matrix that eliminates Y: the step is the joint Gauss–Newton step's X part, after which Y is solved exactly instead
of updated. On d² unknowns instead of 2d², with Y always optimal, it needs fewer and cheaper iterations than
Gauss–Newton on (X, Y).

Two ways to take the Gauss–Newton step, chosen by size (:meth:`VarPro.formed_gauss_newton`):

* formed: the d²×d² matrix (:meth:`solvers.oracle.Oracle.varpro_gauss_newton`) and
  Levenberg–Marquardt steps with Nielsen's gain-ratio damping (:mod:`solvers.methods.damping`),
  where forming and factorising it costs at most :data:`FORMED_GN_PRODUCTS` of its matrix-free
  products (flop model: :func:`formed_gn_products`) and dense steps are affordable (d ≤ 39);
* matrix-free elsewhere: a Steihaug–CG trust region on the products
  :meth:`solvers.oracle.Oracle.varpro_gn_product` (six n×n×d products each, four where the oracle keeps
  its one block), sharing the iterate's oracle and the basis Q of the iterate
  (:func:`solvers.methods.newton_cg.trust_region_step`).

The formed steps take fewer iterations (6 against 9–11 from X* + 0.5·G at (128, 16)), each costing the formation
once. Measured with the benchmark matrix's runner, varpro alone, one thread per case, two cases side by side: on the
matrix's 50 solvable (128, 16) cases the formed steps solved 47 against 46, in 0.78× the time (geometric mean over
the 46 both solved; planted X* + 0.5·G: 0.019–0.022 s against 0.028–0.047 s); on 48 cases at (256, 16) and (512, 16)
(planted and 10 %-noise, X* + σ·G with σ = 0.5, 1.5, 3, seeds 0–3) 34 against 35, in 0.61× the time; on 64 at
(128, 8) and (256, 8) (σ = 1.5, 3, seeds 0–7) 36 against 35, in 0.73×; at (1024, 32) (σ = 0.5, 1.5, seeds 0–1, one
case at a time) 8 of 8 both, in 0.55×. Where the model puts the formation above 24 products they were slower:
(256, 24) planted X* + 0.5·G 0.22–0.25 against 0.09–0.14 s, (512, 32) planted X* + 1.5·G 2.5–7.1 against 1.5–4.1 s,
(1024, 64) 3.3–4.3×. Which basin a far start ends in changes with the step either way (the counts above move both
ways case by case). ``matrix_free`` forces either.

Gauss–Newton drops the curvature that the residual carries, so where the residual stays large (noisy or random B:
stationarity, not L = 0, is the target) it converges linearly, and near a saddle it cannot see the way down. After
an accepted step that lowered the loss by less than :data:`SLOW_DECREASE` (Fletcher and Xu's rule), the next step
takes the exact Hessian of the reduced objective, H_XX − H_XY H_YY⁻¹ H_YX (docs/maths.md §6); a step that lowers the
loss by more goes back to Gauss–Newton. ``info["newton_steps"]`` counts the exact steps. Where dense steps are
affordable (:meth:`VarPro.dense_affordable`: d ≤ 39) the exact step forms that d²×d² matrix as the Schur complement
of the joint Hessian's terms (:meth:`solvers.oracle.Oracle.varpro_hessian`) and takes a Levenberg–Marquardt step on
it, its damping shifting an indefinite matrix until it is positive definite; beyond, the Steihaug CG of the trust
region runs on its products (:func:`reduced_hessian_product`, two joint Hessian–vector products each) and follows
negative curvature to the boundary. Measured at (128, 16) on the benchmark matrix's 45 planted and noisy cases from
X* + σ·G (σ = 0.5, 1.5, 3; 2 s caps, one case at a time): the dense exact steps solve 30, the trust region on
products 23 (its exact steps cost up to d² products of 0.4 ms each, a formed matrix 6 ms); at (512, 32) the six
matrix cases from X* + 1.5·G: 6 against 4.

Each trial point costs one forward pass and one thin SVD of the n×d matrix S A3; an accepted one is the next
iterate, with its loss and gradient. Everything goes through the iterate's oracle, so the method runs in every
layout (P gathered, n×d; products and matrices summed block by block).

Where P = S A3 is singular to working precision (X = 0 makes it rank one: near-uniform attention, its other singular
values below 1e-180·σ_max), Y(X) grows like 1/σ_min(P) and the reduced objective is too ill-conditioned to descend
on; from such a start (singular values below √eps·σ_max, :meth:`VarPro.entry_cutoff`) the method takes joint steps
(``info["joint_steps"]`` counts them) until P has full rank (singular values above ``rcond``·σ_max, eps^(1/4) by
default) and the reduced iteration from there is no higher. Where the 2d²×2d² joint Hessian's Cholesky costs at most
:data:`DENSE_JOINT_FLOPS` (d ≤ 39) they are damped Newton steps (:class:`solvers.methods.newton.JointNewton`),
handed over only once they crawl (:func:`crawls`: nearly undamped, yet lowering the loss by less than 1 %), where
the joint model holds only along the curved valley Y ≈ Y(X) that eliminating Y removes. Measured one case at a time
(2 s caps) from X = 0 at (128, 16) on the noisy and random cases (stationarity targets): seeds 0–9, 24 of 30 solved
by joint Newton to the end, 30 with the crawl rule (chosen on them), 21 handing over as soon as P has full rank
(random cases ended in higher minima); seeds 10–29, 53 and 58 of 60 (two lost, stalled at the float64 floor |g|/|g0|
≈ 2.7e-8 of lower minima), in a median 0.69× the time where both solved; planted seeds 10–49, 4 and 5 (0 and 0 of
seeds 0–9). Beyond d = 39 the joint steps are Newton–CG's (:class:`solvers.methods.newton_cg.NewtonCG`), handed over
as soon as P has full rank (at d = 16 they solved none of the matrix's 13 solvable cold starts, damped Newton steps
11). That test only guards the entry: within the reduced iteration Y(X) keeps P's singular values down to
``lstsq``'s cut-off (eps·max(n, d)). The minimum of a noisy problem can lie where κ(P) passes eps^(-1/4) = 8192
(1%-noise (128, 16) seed 2 from X* + 3·G: κ(P) ≈ 8300 there); cut at eps^(1/4), f jumped by 0.12 between
neighbouring trial points, the damping grew until the steps stalled at ‖∇L‖/‖∇L₀‖ ≈ 4e-5, and the case was not
solved; with lstsq's cut-off it reaches 3e-10 in 169 iterations, and no case of the benchmark matrix at (128, 16),
(512, 32) or (1024, 64) was lost (measured one case at a time, 2 s caps at (128, 16)). A small random start
(X = 0.01·G: σ_min/σ_max of 1e-5 to 4e-5 at (128, 16), 9e-6 at (1024, 64)) is ill-conditioned, not degenerate, and
begins with the reduced iteration: on the matrix's 40 such (128, 16) cases (seeds 0–9, stationarity targets where
min L > 0) it solved 4–5 (1.0–1.95 s, two cases side by side; the full matrix at 61d9912 solved 3 of its 20, no
method had solved one before), where the joint Newton steps that a cut at eps^(1/4) sent them to solved none
(`gauss-newton` solves 3, one of them among the 5); at d = 40, where the joint steps would be Newton–CG's, it ended
10 s caps 2–44 % lower on all four cases tried. Hence two thresholds: joint steps begin below √eps, and give way to
the reduced iteration only above eps^(1/4) (from X = 0 at d = 40, a hand-over at √eps ended four 10 s runs at
1.3–2.2 times the loss). Should the reduced iteration find no decreasing step (its model degenerates where Y(X) is
ill-conditioned), joint Newton–CG steps continue from that point to the end, so the ending is the joint method's.

With a loss target eps > 0, a first attempt that stops at a stationary point above eps, or is still above it after
:data:`solvers.methods.fallbacks.HANDOVER` iterations, is followed by other methods from the start (``restart``);
from a cold start the first attempt is line-search Newton–CG, and these joint steps come second
(:mod:`solvers.methods.fallbacks` says which, when, and what that was measured to gain)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

from .. import check
from ..backends import Backend
from ..loop import IterativeSolver, Run, State, StepFailed, machine_eps
from ..oracle import Oracle
from ..problem import Problem
from ..rowterms import LeastSquaresY
from .damping import Damping, cholesky_flops, damped_newton_step
from .fallbacks import HANDOVER, attempts, warm_up
from .newton import JointNewton, JointState
from .newton_cg import NewtonCG, NewtonCGState, TrustRegion, trust_region_step
from .restart import run_in_turn

#: A reduced step that lowers the loss by less than this fraction is slow (Fletcher and Xu's switching
#: rule, 1987): Gauss–Newton's model misses the curvature of the residual (or of a saddle) there, and
#: the next step takes the exact reduced Hessian.
SLOW_DECREASE = 0.2
#: From a rank-deficient P, joint damped Newton steps where one Cholesky of the 2d²×2d² joint Hessian would
#: cost at most this many flops ((2d²)³/3: d ≤ 39; the steps eliminate Y instead, at about half that,
#: :class:`solvers.methods.newton.JointSystem`), else joint Newton–CG (module docstring).
DENSE_JOINT_FLOPS = 1e10
#: A damped joint Newton step crawls (:func:`crawls`) when the damping it leaves is at most this (relative μ,
#: the methods' initial damping) and it lowered the loss by less than :data:`CRAWL_DECREASE`.
CRAWL_DAMPING = 1e-3
CRAWL_DECREASE = 0.01
#: Gauss–Newton steps on the formed matrix where forming and factorising it costs at most this many of its
#: matrix-free products by :func:`formed_gn_products` (module docstring: the formed steps were measured faster
#: where the model gives 2.6–17.8, slower at 31 and 36).
FORMED_GN_PRODUCTS = 24


def formed_gn_products(n: int, d: int) -> float:
    """Flops of forming and factorising the d²×d² variable-projection Gauss–Newton matrix, in units of one
    matrix-free product with it.

    Forming: the n×n×d² product of the E_j blocks (2n²d²), the Kronecker sums of H_GN and M (3nd⁴) and the
    symmetric MᵀM (d⁶); factorising: (d²)³/3. A product (:meth:`solvers.oracle.Oracle.varpro_gn_product`):
    six n×n×d products (12n²d; the unit :data:`FORMED_GN_PRODUCTS` was measured in, though from an iterate's
    second product on a one-block oracle makes four).
    """
    return (2.0 * n * n * d * d + 3.0 * n * d**4 + d**6 + d**6 / 3.0) / (12.0 * n * n * d)


def crawls(before: JointState, after: JointState) -> bool:
    """Whether the damped joint Newton step from ``before`` to ``after`` crawls: nearly undamped (μ ≤
    :data:`CRAWL_DAMPING`), yet lowering the loss by less than :data:`CRAWL_DECREASE` (module docstring)."""
    return after.damping.mu <= CRAWL_DAMPING and before.loss - after.loss < CRAWL_DECREASE * before.loss


def reduced_hessian_product(oracle: Oracle, ls: LeastSquaresY, D: Any) -> Any:
    """The exact Hessian of f(X) = L(X, Y(X)) times D, at Y = Y(X) (docs/maths.md §6).

    ∇²f = H_XX − H_XY H_YY⁻¹ H_YX with H_YY = 2 (PᵀP) ⊗ I (docs/maths.md §4): two joint
    Hessian–vector products (§5) and a d×d product with (PᵀP)⁺ = V Σ⁻² Vᵀ from the Y step's SVD
    (its pseudo-inverse where singular values were dropped). Unlike Kaufman's Gauss–Newton matrix
    it keeps the terms that carry the residual R, and it can be indefinite.
    """
    xp = oracle.problem.xp
    hX, hY = oracle.hvp(D, xp.zeros_like(D))
    return hX - oracle.hvp(None, 0.5 * (ls.gram_inverse() @ hY))[0]


@dataclass
class VarproState(State):
    """(X, Y(X)) with its oracle and the range basis Q there, and the globalisation's bookkeeping."""

    oracle: Oracle | None = field(default=None, kw_only=True)
    Q: Any = field(default=None, kw_only=True)
    damping: Damping | None = field(default=None, kw_only=True)
    region: TrustRegion | None = field(default=None, kw_only=True)
    rank: int = field(default=0, kw_only=True)
    #: While P is rank deficient: the joint state (damped Newton or Newton–CG) the step continues from.
    joint: JointState | NewtonCGState | None = field(default=None, kw_only=True)
    joint_steps: int = field(default=0, kw_only=True)
    #: Joint steps from here on: Newton–CG after the reduced iteration stalled.
    joint_only: bool = field(default=False, kw_only=True)
    #: The exact Y step at X (its SVD: the exact reduced Hessian needs (PᵀP)⁻¹).
    ls: LeastSquaresY | None = field(default=None, kw_only=True)
    #: The last accepted reduced step lowered the loss by less than :data:`SLOW_DECREASE`: the next
    #: step uses the exact reduced Hessian (:func:`reduced_hessian_product`) instead of Gauss–Newton.
    newton: bool = field(default=False, kw_only=True)
    newton_steps: int = field(default=0, kw_only=True)
    #: The reduced iteration's Gauss–Newton steps form their matrix (:meth:`VarPro.formed_gauss_newton`), as
    #: ``info["matrix_free"]`` reports (also where joint steps run to the end and none is taken).
    formed: bool = field(default=False, kw_only=True)
    #: How each attempt from the start went, where any ran (:func:`solvers.methods.restart.restart_from_start`).
    restart: list[dict[str, Any]] | None = field(default=None, kw_only=True)


def reduced_point(problem: Problem, X: Any, rcond: float | None = None) -> dict[str, Any]:
    """Y(X), its oracle, loss, ‖∇L‖, Q and the rank of P at X, in one transfer (``rcond``: see
    :func:`solvers.rowterms.least_squares`)."""
    oracle, step = problem.oracle(X).least_squares(rcond=rcond)
    loss, gnorm, rank = oracle.summary(step.rank)
    return {"X": X, "Y": oracle.Y, "oracle": oracle, "Q": step.Q, "ls": step, "rank": int(rank), "loss": loss,
            "grad_norm": gnorm}


class VarPro(IterativeSolver):
    """Variable projection: Gauss–Newton (Kaufman) on X with Y = Y(X) eliminated exactly.

    Parameters
    ----------
    matrix_free : bool, optional
        Gauss–Newton steps by matrix-free trust-region CG (``True``) or on the formed d²×d² matrix with
        Levenberg–Marquardt damping (``False``); default: by size (:meth:`formed_gauss_newton`).
    mu0 : float
        Initial relative Levenberg–Marquardt damping (dense steps).
    radius0 : float
        Initial trust-region radius in X (matrix-free steps).
    max_cg : int, optional
        CG iterations per matrix-free step (default d²).
    newton : bool
        After a slow step (the loss fell by less than :data:`SLOW_DECREASE`) take the next one with
        the exact reduced Hessian instead of Gauss–Newton (Fletcher–Xu hybrid): formed and damped in
        dense mode and where :meth:`dense_affordable`, else its products (:func:`reduced_hessian_product`)
        in the trust region. ``False``: Gauss–Newton throughout.
    rcond : float, optional
        P = S A3 counts as well conditioned where its singular values exceed ``rcond·σ_max``. Near a
        rank-deficient P (X = 0 makes it rank one) the exact Y(X) grows like 1/σ_min and the reduced
        objective becomes too ill-conditioned to descend on; from a start where P is not well conditioned
        the method takes joint steps until it is (module docstring). Default: a start takes them where P is
        singular to working precision (√eps of the dtype, :meth:`entry_cutoff`), and they give way to the
        reduced iteration above eps^(1/4) (:meth:`cutoff`). Once the reduced iteration runs, its trial points
        keep P's singular values down to ``lstsq``'s cut-off (eps·max(n, d)), so that f stays continuous:
        minima of noisy problems can lie beyond eps^(1/4) (module docstring).
    restart : bool
        Where the iteration stops (``converged`` or ``stalled``) at a point whose loss is above ``eps`` > 0
        (a spurious minimum of a problem whose minimum is asked to be ≤ eps), run the :meth:`attempts` after it from
        the start within the same limits and keep the lowest ending (module docstring; ``info["restart"]``,
        one record per attempt). ``eps = 0`` never restarts.
    handover : int, optional
        With ``restart`` and ``eps`` > 0, hand over to the fallbacks after this many iterations above eps
        (default :data:`HANDOVER`; from a cold start, where this iteration comes second, only after a stop:
        :func:`solvers.methods.fallbacks.attempts`); ``None``: only after a stop above eps.
    """

    name = "varpro"

    def __init__(self, backend: str | Backend | None = None, *, matrix_free: bool | None = None, mu0: float = 1e-3,
                 radius0: float = 1.0, max_cg: int | None = None, rcond: float | None = None,
                 newton: bool = True, restart: bool = True, handover: int | None = HANDOVER, **common: Any) -> None:
        super().__init__(backend, **common)
        self.matrix_free = check.flag("matrix_free", matrix_free, optional=True)
        self.mu0 = check.number("mu0", mu0, at_least=0.0)
        self.radius0 = check.number("radius0", radius0, above=0.0)
        self.max_cg = check.integer("max_cg", max_cg, optional=True)
        self.rcond = None if rcond is None else check.number("rcond", rcond, above=0.0, below=1.0)
        self.newton = check.flag("newton", newton)
        self.restart = check.flag("restart", restart)
        self.handover = check.integer("handover", handover, at_least=1, optional=True)

    def cutoff(self, problem: Problem) -> float:
        """The relative singular-value cut-off above which joint steps give way to the reduced iteration (``rcond``,
        default eps^(1/4) of the dtype)."""
        return machine_eps(problem.dtype) ** 0.25 if self.rcond is None else self.rcond

    def entry_cutoff(self, problem: Problem) -> float:
        """The relative cut-off below which P's singular values make a start degenerate, to take joint steps: ``rcond``
        where given, else √eps of the dtype (P singular to working precision, as at X = 0; module docstring)."""
        return machine_eps(problem.dtype) ** 0.5 if self.rcond is None else self.rcond

    def formed_gauss_newton(self, problem: Problem) -> bool:
        """Whether the Gauss–Newton steps form their matrix: ``not matrix_free`` where given, else where dense
        steps are affordable (:meth:`dense_affordable`) and the formation costs at most :data:`FORMED_GN_PRODUCTS`
        matrix-free products (:func:`formed_gn_products`; module docstring)."""
        if self.matrix_free is not None:
            return not self.matrix_free
        return self.dense_affordable(problem) and formed_gn_products(problem.n, problem.d) <= FORMED_GN_PRODUCTS

    @staticmethod
    def dense_affordable(problem: Problem) -> bool:
        """Whether dense second-order steps are cheap here: one Cholesky of the 2d²×2d² joint Hessian costs
        at most :data:`DENSE_JOINT_FLOPS` (d ≤ 39). Then a degenerate start takes damped joint Newton steps
        and the exact reduced steps form the d²×d² reduced Hessian (module docstring)."""
        return cholesky_flops(2 * problem.d**2) <= DENSE_JOINT_FLOPS

    def drive(self, problem: Problem, state: State, run: Run) -> tuple[State, int, str, str]:
        """The reduced iteration (:meth:`IterativeSolver.drive`); with ``restart`` and eps > 0, the :meth:`attempts`
        from the start in turn while each stops by itself above ``eps`` or is handed over (module docstring)."""
        if not (self.restart and run.eps > 0.0):
            return super().drive(problem, state, run)
        plain = copy.copy(self)
        plain.restart = False
        ending, iterations, status, message, records = run_in_turn(
            problem, state, run, self.attempts(problem, plain, self.joint_start(problem, state.X)), plain)
        if isinstance(ending, VarproState):
            return replace(ending, restart=records or ending.restart), iterations, status, message
        before = records[0]["after_iterations"] if records else 0  # the steps of the last method kept are joint
        return (VarproState(ending.X, ending.Y, loss=ending.loss, grad_norm=ending.grad_norm, joint=ending,
                            joint_only=True, joint_steps=iterations - before, formed=self.formed_gauss_newton(problem),
                            restart=records or None),
                iterations, status, message)

    def attempts(self, problem: Problem, plain: IterativeSolver,
                 cold: bool) -> list[tuple[IterativeSolver, int | None]]:
        """The methods run from the start in turn, ``plain`` (this method without restarts) among them
        (:func:`solvers.methods.fallbacks.attempts`)."""
        return attempts(plain, cold, self.dense_affordable(problem), self.handover, radius0=self.radius0)

    def warm_up(self, problem: Problem) -> None:
        """Before a harness's clock starts: the imports of a cold start's first attempt
        (:func:`solvers.methods.fallbacks.warm_up`)."""
        warm_up()

    def joint_start(self, problem: Problem, X: Any) -> bool:
        """Whether the iteration from ``X`` begins with joint steps, P = S A3 being singular to working precision
        there (X = 0, :meth:`entry_cutoff`): a cold start (:func:`solvers.methods.fallbacks.attempts`)."""
        return reduced_point(problem, X, self.entry_cutoff(problem))["rank"] < problem.d

    def init_state(self, problem: Problem, X: Any, Y: Any) -> VarproState:
        point = reduced_point(problem, X, self.entry_cutoff(problem))
        if point["rank"] < problem.d:  # Y(X) is degenerate here: joint steps (module docstring)
            method = JointNewton() if self.dense_affordable(problem) else NewtonCG(radius0=self.radius0)
            joint = method.init_state(problem, X, Y)
            return VarproState(X, Y, loss=joint.loss, grad_norm=joint.grad_norm, joint=joint,
                               formed=self.formed_gauss_newton(problem))
        return self.reduced_state(problem, point)

    def reduced_state(self, problem: Problem, point: dict[str, Any], joint_steps: int = 0) -> VarproState:
        """The first state of the reduced iteration at ``point`` (a :func:`reduced_point`)."""
        formed = self.formed_gauss_newton(problem)
        region = None if formed else TrustRegion(self.radius0)
        return VarproState(**point, region=region, damping=Damping(self.mu0), joint_steps=joint_steps, formed=formed)

    def step(self, problem: Problem, state: VarproState) -> VarproState:
        if state.joint is not None:
            return self.joint_step(problem, state)
        try:
            return self.reduced_step(problem, state)
        except StepFailed:  # degenerate Y(X): let the joint iteration decide whether this is a minimum
            joint = NewtonCG(radius0=self.radius0).init_state(problem, state.X, state.Y)
            return self.joint_step(problem, VarproState(state.X, state.Y, loss=joint.loss, grad_norm=joint.grad_norm,
                                                        joint=joint, joint_steps=state.joint_steps, joint_only=True,
                                                        newton_steps=state.newton_steps, formed=state.formed))

    def reduced_step(self, problem: Problem, state: VarproState) -> VarproState:
        """One step on the reduced objective: Gauss–Newton, or the exact reduced Hessian after a slow step;
        damped on the formed matrix (:meth:`formed_gauss_newton`, and the exact steps where
        :meth:`dense_affordable`), else a trust region on its products."""
        xp = problem.xp
        d = problem.d
        X = state.X
        trials: dict[str, Any] = {}

        def trial_loss(p: Any) -> float:
            X_new = X + xp.reshape(p, (d, d))
            trials["point"] = reduced_point(problem, X_new)  # lstsq's cut-off: f continuous (``rcond``)
            return trials["point"]["loss"]

        g = xp.reshape(state.oracle.grad[0], (-1,))
        exact = state.newton and self.newton
        region, damping = state.region, state.damping
        if state.region is None or (exact and self.dense_affordable(problem)):
            H = (state.oracle.varpro_hessian(state.ls.gram_factor()) if exact
                 else state.oracle.varpro_gauss_newton(state.Q))
            damping = damped_newton_step(problem.backend, H, g, lambda p: trial_loss(-p), state.loss, state.damping,
                                         grad_norm=state.grad_norm,
                                         trial_grad_norm=lambda: trials["point"]["grad_norm"]).damping
        else:
            def matvec(v: Any) -> Any:
                D = xp.reshape(v, (d, d))
                if exact:
                    return xp.reshape(reduced_hessian_product(state.oracle, state.ls, D), (-1,))
                return xp.reshape(state.oracle.varpro_gn_product(state.Q, D), (-1,))

            accepted, region = trust_region_step(problem, matvec, g, state.grad_norm, state.loss, state.region,
                                                 trial_loss, self.max_cg or d * d, 1e-4, 1e-15,
                                                 lambda: trials["point"]["grad_norm"])
            if not accepted:
                return replace(state, region=region)
        slow = state.loss - trials["point"]["loss"] < SLOW_DECREASE * state.loss
        return VarproState(**trials["point"], region=region, damping=damping, joint_steps=state.joint_steps,
                           newton=slow, newton_steps=state.newton_steps + exact, formed=state.formed)

    def joint_step(self, problem: Problem, state: VarproState) -> VarproState:
        """One joint step (damped Newton from a degenerate start where it is cheap, else Newton–CG) while
        P = S A3 is rank deficient; the reduced iteration takes over (Y re-solved) once P has full rank and
        that lowers the loss — after damped Newton steps only once they crawl (:func:`crawls`), and never where
        the joint steps go to the end (``joint_only``)."""
        dense = isinstance(state.joint, JointState)
        joint = (JointNewton() if dense else NewtonCG(radius0=self.radius0)).step(problem, state.joint)
        steps = state.joint_steps + 1
        if not state.joint_only and (not dense or crawls(state.joint, joint)):
            point = reduced_point(problem, joint.X, self.cutoff(problem))
            if point["rank"] == problem.d and point["loss"] <= joint.loss:
                return self.reduced_state(problem, point, steps)
        return VarproState(joint.X, joint.Y, loss=joint.loss, grad_norm=joint.grad_norm, joint=joint,
                           joint_steps=steps, joint_only=state.joint_only, newton_steps=state.newton_steps,
                           formed=state.formed)

    def info(self, state: State) -> dict[str, Any]:
        region = getattr(state, "region", None)
        damping = getattr(state, "damping", None)
        record: dict[str, Any] = {"matrix_free": not getattr(state, "formed", False),
                                  "joint_steps": getattr(state, "joint_steps", 0),
                                  "newton_steps": getattr(state, "newton_steps", 0)}
        if damping is not None:
            record["final_damping"] = damping.mu
        if getattr(state, "restart", None) is not None:
            record["restart"] = state.restart
        if region is not None:
            record.update({key: getattr(region, key) for key in ("radius", "cg_iterations", "rejected", "stops")})
        return record
