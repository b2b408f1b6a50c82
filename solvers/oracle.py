"""One oracle object per iterate: L and its derivatives at (X, Y), computed on first use and kept.

Every method works through :meth:`solvers.problem.Problem.oracle`: it asks the oracle of its iterate for the loss, the
gradient, Hessian–vector products, the Hessians or the exact Y step, and the oracle computes
each once (the forward pass, the gradient, the per-iterate part of the Hessian–vector
products), as SciPy's trust-region methods keep one lazy object per iterate. The layout is
chosen once, by the problem (:attr:`solvers.problem.Problem.layout`):

* ``"dense"`` — :class:`DenseOracle`, the n×n softmax held (:mod:`solvers.kernels`);
* ``"blocked"`` and ``"sharded"`` — :class:`BlockedOracle`, row blocks within the memory
  budget, partial sums finished by the backend's ``all_reduce`` (:mod:`solvers.rowblocks`;
  in one process the all-reduce is the identity).

So every method that uses the oracle honours the memory budget and sharding. Arguments are
the problem's backend arrays and are not checked (the solvers call this inside their loops);
:mod:`solvers.oracles` is the validating public entry point.
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import kernels, rowblocks
from .backends import host_floats
from .rowterms import (Forward, JointTerms, LeastSquaresY, ProblemData, assemble_joint, join, least_squares,
                       reduced_from_joint)

Array = Any


class Oracle:
    """L(X, Y) and its derivatives at one iterate; each quantity computed once, on first use.

    Parameters
    ----------
    problem : Problem
    X, Y : backend arrays, d×d
        The iterate. ``Y`` may be ``None`` when only :meth:`least_squares` is wanted.
    forward : Forward, optional
        The forward pass at (X, Y), when the caller has it.
    """

    layout: ClassVar[str] = ""

    def __init__(self, problem: ProblemData, X: Array, Y: Array | None, forward: Forward | None = None) -> None:
        self.problem = problem
        self.X = X
        self.Y = Y
        self._forward = forward
        self._grad: tuple[Array, Array] | None = None
        self._loss: float | None = None
        self._grad_norm: float | None = None

    # -- the layout's maths -------------------------------------------------------------------
    def _compute_forward(self) -> Forward:
        raise NotImplementedError

    def _grad_from(self, fw: Forward) -> tuple[Array, Array]:
        raise NotImplementedError

    def _total(self, partial: Array) -> Array:
        """A sum over this process's rows made a sum over all rows (the identity in one process)."""
        return partial

    def _values_and_targets(self) -> tuple[Array, Array]:
        """P = S A3 and B at X, all n rows, for the Y step."""
        raise NotImplementedError

    def _with_y(self, Y: Array) -> "Oracle":
        """The oracle at (X, Y) for the same X, reusing what depends on X alone."""
        raise NotImplementedError

    def hvp(self, dX: Array | None, dY: Array | None) -> tuple[Array, Array | None]:
        """Joint Hessian–vector product ``H (vec dX, vec dY)`` (docs/maths.md §5); ``hY`` is ``None`` when ``dY`` is."""
        raise NotImplementedError

    def hessian_x(self, *, gauss_newton: bool = False, rows: Any = None, weights: Any = None) -> Array:
        """The d²×d² X-Hessian (docs/maths.md §4); ``rows``/``weights`` (host, indices into all n rows) sample it."""
        raise NotImplementedError

    def joint_terms(self, *, gauss_newton: bool = False) -> JointTerms:
        """The joint Hessian's blocks H_xx, H_yx and PᵀP summed over all n rows (H_yy = 2 (PᵀP) ⊗ I,
        docs/maths.md §4), from which :meth:`hessian_joint`, :meth:`varpro_hessian` and the
        joint Newton step's block elimination (:class:`solvers.methods.newton.JointSystem`) are built."""
        raise NotImplementedError

    def hessian_joint(self, *, gauss_newton: bool = False) -> Array:
        """The 2d²×2d² joint Hessian (or Gauss–Newton matrix) in (vec X, vec Y)."""
        return assemble_joint(self.problem, self.joint_terms(gauss_newton=gauss_newton))

    def varpro_gauss_newton(self, Q: Array) -> Array:
        """The variable-projection Gauss–Newton matrix with range basis ``Q`` (all n rows)."""
        raise NotImplementedError

    def varpro_hessian(self, gram_factor: Array) -> Array:
        """The exact d²×d² Hessian of f(X) = min_Y L(X, Y), at an iterate with Y = Y(X) (docs/maths.md §6):
        the Schur complement of the joint Hessian, ``gram_factor`` F with FᵀF = (PᵀP)⁺ (d×d,
        :meth:`solvers.rowterms.LeastSquaresY.gram_factor`)."""
        return reduced_from_joint(self.problem, self.joint_terms(), gram_factor)

    def varpro_gn_product(self, Q: Array, D: Array) -> Array:
        """``varpro_gauss_newton(Q) vec(D)`` without forming it."""
        raise NotImplementedError

    # -- shared by every layout ---------------------------------------------------------------
    @property
    def forward(self) -> Forward:
        """The forward pass at (X, Y)."""
        if self._forward is None:
            self._forward = self._compute_forward()
        return self._forward

    @property
    def grad(self) -> tuple[Array, Array]:
        """``(∇_X L, ∇_Y L)``, each d×d (at a fresh point, with the forward pass, in one pass over the data)."""
        if self._grad is None:
            if self._forward is None:
                self._forward, self._grad = self._forward_and_grad()
            else:
                self._grad = self._grad_from(self._forward)
        return self._grad

    def value_and_grad(self) -> tuple[float, tuple[Array, Array]]:
        """``(L, (∇_X L, ∇_Y L))``: from one pass over the data when neither is known yet."""
        if self._forward is None and self._grad is None:
            self._forward, self._grad = self._forward_and_grad()
        return self.loss, self.grad

    def _forward_and_grad(self) -> tuple[Forward, tuple[Array, Array]]:
        """The forward pass and the gradients together (the layouts that can fuse them override)."""
        fw = self._compute_forward()
        return fw, self._grad_from(fw)

    @property
    def joint_grad(self) -> Array:
        """∇L as the joint vector (vec ∇_X L, vec ∇_Y L)."""
        return join(self.problem, *self.grad)

    @property
    def loss(self) -> float:
        """L(X, Y) as a Python float (synchronises)."""
        if self._loss is None:
            self._loss = float(self._squared_residual())
        return self._loss

    def _squared_residual(self) -> Array:
        """‖R‖²_F over all rows as a 0-d array, without an n×d temporary (the loss of :attr:`loss` and of
        :meth:`summary` alike)."""
        flat = self.problem.xp.reshape(self.forward.R, (-1,))
        return self._total(self.problem.xp.vecdot(flat, flat))

    def summary(self, *extra: Array) -> tuple[float, ...]:
        """``(L, ‖∇L‖, *extra)`` as Python floats in one transfer (``extra``: 0-d device arrays)."""
        xp = self.problem.xp
        if self._forward is None and self._grad is None:  # both wanted: one pass over the data
            self._forward, self._grad = self._forward_and_grad()
        gX, gY = self.grad
        self._loss, squared, *rest = host_floats(self.problem.backend, self._squared_residual(),
                                                 xp.sum(gX * gX) + xp.sum(gY * gY), *extra)
        self._grad_norm = squared ** 0.5
        return (self._loss, self._grad_norm, *rest)

    @property
    def grad_norm(self) -> float:
        """‖∇L‖ (with the loss, in one transfer)."""
        if self._grad_norm is None:
            self.summary()
        assert self._grad_norm is not None
        return self._grad_norm

    def hvp_x(self, D: Array) -> Array:
        """``H_X vec(D)`` as d×d, without forming H_X."""
        return self.hvp(D, None)[0]

    def least_squares(self, reg: float = 0.0, rcond: float | None = None) -> tuple["Oracle", LeastSquaresY]:
        """The exact Y step at X (docs/maths.md §3) and the oracle at (X, Y(X)).

        Reuses the softmax at X when this oracle has computed its forward pass (the logits
        depend on X alone). ``reg`` adds reg‖Y‖²_F; ``rcond``: see :func:`solvers.rowterms.least_squares`.
        """
        step = least_squares(self.problem, *self._values_and_targets(), reg, rcond)
        return self._with_y(step.Y), step


class DenseOracle(Oracle):
    """The dense layout: the n×n softmax S is held (:mod:`solvers.kernels`)."""

    layout = "dense"

    def __init__(self, problem: ProblemData, X: Array, Y: Array | None, forward: Forward | None = None,
                 S: Array | None = None) -> None:
        super().__init__(problem, X, Y, forward)
        self._S = S if forward is None else forward.S
        self._cache: kernels.HvpCache | None = None

    @property
    def S(self) -> Array:
        """The n×n softmax at X."""
        if self._S is None:
            self._S = kernels.softmax_at(self.problem, self.X)
        return self._S

    def _compute_forward(self) -> Forward:
        return kernels.forward(self.problem, self.X, self.Y, self.S)

    def _grad_from(self, fw: Forward) -> tuple[Array, Array]:
        return kernels.grad_from(self.problem, fw)

    def _values_and_targets(self) -> tuple[Array, Array]:
        return self.S @ self.problem.A3, self.problem.B

    def _with_y(self, Y: Array) -> "DenseOracle":
        return DenseOracle(self.problem, self.X, Y, S=self.S)

    def hvp(self, dX: Array | None, dY: Array | None) -> tuple[Array, Array | None]:
        if dX is None and dY is None:
            raise ValueError("hvp needs a direction: dX, dY or both")
        if self._cache is None:
            self._cache = kernels.hvp_cache(self.problem, self.forward)
        return kernels.hvp(self.problem, self.forward, dX, dY, self._cache)

    def hessian_x(self, *, gauss_newton: bool = False, rows: Any = None, weights: Any = None) -> Array:
        if weights is not None and rows is None:
            raise ValueError("hessian_x: weights need rows")
        return kernels.hessian_x(self.problem, self.forward, gauss_newton=gauss_newton, rows=rows, weights=weights)

    def joint_terms(self, *, gauss_newton: bool = False) -> JointTerms:
        return kernels.joint_terms(self.problem, self.forward, gauss_newton=gauss_newton)

    def varpro_gauss_newton(self, Q: Array) -> Array:
        return kernels.varpro_gauss_newton(self.problem, self.forward, Q)

    def varpro_gn_product(self, Q: Array, D: Array) -> Array:
        return kernels.varpro_gn_product(self.problem, self.forward, Q, D)


class BlockedOracle(Oracle):
    """The row-blocked layout, sharded or not: S is never held (:mod:`solvers.rowblocks`)."""

    layout = "blocked"

    def _compute_forward(self) -> Forward:
        return rowblocks.forward(self.problem, self.X, self.Y)

    def _grad_from(self, fw: Forward) -> tuple[Array, Array]:
        return rowblocks.grad_from(self.problem, fw)

    def __init__(self, problem: ProblemData, X: Array, Y: Array | None, forward: Forward | None = None,
                 lse: Array | None = None) -> None:
        super().__init__(problem, X, Y, forward)
        self._lse = lse if forward is None else forward.S.lse
        self._products = 0  # directional products asked for (Hessian–vector, variable-projection Gauss–Newton)
        self._kept: rowblocks.KeptBlock | None = None

    def _forward_and_grad(self) -> tuple[Forward, tuple[Array, Array]]:
        return rowblocks.forward_and_grad(self.problem, self.X, self.Y, self._lse)

    def _total(self, partial: Array) -> Array:
        return self.problem.backend.all_reduce(partial)

    def _values_and_targets(self) -> tuple[Array, Array]:
        lse = self._forward.S.lse if self._forward is not None else self._lse
        P, B, self._lse = rowblocks.values_and_targets(self.problem, self.X, lse)
        return P, B

    def _with_y(self, Y: Array) -> "BlockedOracle":
        return BlockedOracle(self.problem, self.X, Y, lse=self._lse)  # the logits depend on X alone

    def hvp(self, dX: Array | None, dY: Array | None) -> tuple[Array, Array | None]:
        """As :meth:`Oracle.hvp`; at a fresh point the forward pass is made in the same pass over the blocks.

        From the second directional product at this iterate on (this or :meth:`varpro_gn_product`), where the
        problem is one block of rows (n ≤ 1024 in float64 by default), their direction-free part is kept
        (:class:`solvers.rowblocks.KeptBlock`: up to two n×n arrays while the oracle lives), as a truncated CG
        solve makes many products at one point.
        """
        if dX is None and dY is None:
            raise ValueError("hvp needs a direction: dX, dY or both")
        self._products += 1
        product, self._forward, self._kept = rowblocks.hvp(self.problem, self.X, self.Y, dX, dY, self._forward,
                                                           self._lse, self._kept, keep=self._products > 1)
        return product

    def hessian_x(self, *, gauss_newton: bool = False, rows: Any = None, weights: Any = None) -> Array:
        if weights is not None and rows is None:
            raise ValueError("hessian_x: weights need rows")
        return rowblocks.hessian_x(self.problem, self.X, self.Y, gauss_newton=gauss_newton, rows=rows, weights=weights)

    def joint_terms(self, *, gauss_newton: bool = False) -> JointTerms:
        return rowblocks.joint_terms(self.problem, self.X, self.Y, gauss_newton=gauss_newton)

    def varpro_gauss_newton(self, Q: Array) -> Array:
        return rowblocks.varpro_gauss_newton(self.problem, self.X, self.Y, Q[self.problem.rows, :])

    def varpro_gn_product(self, Q: Array, D: Array) -> Array:
        self._products += 1
        product, self._kept = rowblocks.varpro_gn_product(self.problem, self.forward, Q[self.problem.rows, :], D,
                                                          self._kept, keep=self._products > 1)
        return product


#: The oracle class of each layout a problem can have (:attr:`solvers.problem.Problem.layout`).
ORACLES: dict[str, type[Oracle]] = {"dense": DenseOracle, "blocked": BlockedOracle, "sharded": BlockedOracle}
