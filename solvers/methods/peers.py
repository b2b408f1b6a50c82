"""The torch methods a user would otherwise reach for: first-order autograd and autograd Newton.

* ``adam``, ``gd`` and ``torch-lbfgs``: torch autograd through the same forward pass as the
  oracles (the problem's oracle's forward pass on torch tensors), ``torch.optim.Adam`` /
  ``SGD`` / ``LBFGS`` (strong-Wolfe line search);
* ``autograd-newton``: the generic second-order route, ``torch.func.hessian`` of the loss
  in (x, y) and Levenberg–Marquardt damped Newton steps.

Each runs on torch or torch-cuda. Constructing one with another explicit backend raises
``ValueError``; given a problem on another backend it moves it there off the clock and the
result records the move. torch is imported only when a torch method is constructed or run.
SciPy's minimisers driven by the project's oracles are in :mod:`solvers.methods.scipy_peers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import check
from ..backends import Backend, backend_unavailable_reason
from ..loop import IterativeSolver, Run, State
from .damping import DampedMethod, DampedState, Damping, damped_newton_step
from ..problem import Problem
from ..rowterms import join, split


def torch_loss(problem: Problem, X: Any, Y: Any) -> Any:
    """L(X, Y) as a 0-d torch tensor that autograd (and ``torch.func``) can differentiate."""
    R = problem.oracle(X, Y).forward.R
    return problem.xp.sum(R * R)


class _TorchPeer(IterativeSolver):
    """A method that needs torch autograd: runs on ``torch`` or ``torch-cuda``.

    The first use of ``torch.optim`` or ``torch.func`` in a process imports and
    initialises modules for about a second; :meth:`warm_imports` (every solve) and
    :meth:`warm_up` (a harness, before its clock) pay that off the clock, so the timings
    measure the method and not Python imports.
    """

    backends = ("torch", "torch-cuda")
    layouts = frozenset({"dense", "blocked"})
    layout_reason = "autograd cannot differentiate through the all-reduce that finishes the shards' sums"

    @classmethod
    def missing_library(cls) -> str | None:
        return backend_unavailable_reason("torch")

    def warm_imports(self, problem: Problem) -> None:
        """Exercise the torch machinery the method uses once, on a tiny input (every solve does, off the clock)."""

    def warm_up(self, problem: Problem) -> None:
        """What a harness runs before its clock starts: a three-iteration solve of ``problem`` itself, so that
        torch's first use of every kernel, shape and allocation at this size is off the clock too (measured:
        the first 20 torch-lbfgs iterations at (128, 16) took 5.0 s in a fresh process, 1.2 s after one solve)."""
        self.solve(problem, max_iter=3)

    def drive(self, problem: Problem, state: State, run: Run) -> tuple[State, int, str, str]:
        self.warm_imports(problem)
        return super().drive(problem, state, run)

    def natural_backend(self, problem: Problem) -> str:
        """torch-cuda for a problem on a GPU backend (when torch sees a GPU), else torch (CPU)."""
        on_gpu = problem.backend.name in ("torch-cuda", "cupy")
        return "torch-cuda" if on_gpu and backend_unavailable_reason("torch-cuda") is None else "torch"


@dataclass
class OptimiserState(State):
    """The iterate (detached copies), the leaf tensors the optimiser updates, and the optimiser."""

    params: list[Any]
    optimiser: Any


class _TorchOptimiser(_TorchPeer):
    """One ``torch.optim`` step per iteration on the leaf tensors (X, Y)."""

    def __init__(self, backend: str | Backend | None = None, *, lr: float, **common: Any) -> None:
        super().__init__(backend, **common)
        self.lr = check.number("lr", lr, above=0.0)

    def make_optimiser(self, params: list[Any]) -> Any:
        """The ``torch.optim`` optimiser over ``params``."""
        raise NotImplementedError

    def warm_imports(self, problem: Problem) -> None:
        import torch

        self.make_optimiser([torch.zeros(1, requires_grad=True)])

    def init_state(self, problem: Problem, X: Any, Y: Any) -> OptimiserState:
        params = [X.detach().clone().requires_grad_(True), Y.detach().clone().requires_grad_(True)]
        return OptimiserState(params[0].detach(), params[1].detach(), params=params,
                              optimiser=self.make_optimiser(params))

    def step(self, problem: Problem, state: OptimiserState) -> OptimiserState:
        optimiser, params = state.optimiser, state.params

        def closure() -> Any:  # the loss and its gradient at the current parameters (a line search re-evaluates)
            optimiser.zero_grad(set_to_none=True)
            loss = torch_loss(problem, *params)
            loss.backward()
            return loss

        optimiser.step(closure)
        return OptimiserState(params[0].detach().clone(), params[1].detach().clone(), params=params,
                              optimiser=optimiser)


class Adam(_TorchOptimiser):
    """Adam (torch autograd) on (X, Y).

    Parameters
    ----------
    lr : float
        Learning rate (default 1e-2; X* has entries of size about 0.5).
    betas : tuple of float
        Adam's moment decay rates.
    """

    name = "adam"

    def __init__(self, backend: str | Backend | None = None, *, lr: float = 1e-2, betas: tuple[float, float] = (0.9, 0.999),
                 **common: Any) -> None:
        super().__init__(backend, lr=lr, **common)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        self.betas = tuple(check.number(f"betas[{k}]", beta, at_least=0.0, below=1.0) for k, beta in enumerate(betas))

    def make_optimiser(self, params: list[Any]) -> Any:
        import torch

        return torch.optim.Adam(params, lr=self.lr, betas=self.betas)


class GradientDescent(_TorchOptimiser):
    """Gradient descent (torch autograd, ``torch.optim.SGD`` on the full batch).

    Parameters
    ----------
    lr : float
        Step size (default 0.1: the largest Hessian eigenvalue at planted starts is
        about 1–4 for n ≤ 512, d ≤ 16, so 0.1 is stable there).
    momentum : float
        Heavy-ball momentum (default 0: plain gradient descent).
    """

    name = "gd"

    def __init__(self, backend: str | Backend | None = None, *, lr: float = 0.1, momentum: float = 0.0, **common: Any) -> None:
        super().__init__(backend, lr=lr, **common)
        self.momentum = check.number("momentum", momentum, at_least=0.0)

    def make_optimiser(self, params: list[Any]) -> Any:
        import torch

        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum)


class TorchLBFGS(_TorchOptimiser):
    """``torch.optim.LBFGS`` with its strong-Wolfe line search (torch autograd), one L-BFGS
    iteration per step, its own tolerances off (the loop's rules stop it).

    Parameters
    ----------
    lr : float
        Initial step length of each line search (default 1, as L-BFGS expects).
    memory : int
        Number of correction pairs kept (``history_size``).
    """

    name = "torch-lbfgs"

    def __init__(self, backend: str | Backend | None = None, *, lr: float = 1.0, memory: int = 10,
                 **common: Any) -> None:
        super().__init__(backend, lr=lr, **common)
        self.memory = check.integer("memory", memory)

    def make_optimiser(self, params: list[Any]) -> Any:
        import torch

        return torch.optim.LBFGS(params, lr=self.lr, max_iter=1, max_eval=25, history_size=self.memory, tolerance_grad=0.0,
                                 tolerance_change=0.0, line_search_fn="strong_wolfe")


class AutogradNewton(_TorchPeer, DampedMethod):
    """Damped Newton on (x, y) with the dense Hessian from ``torch.func.hessian``.

    The same Levenberg–Marquardt rule as ``joint-newton``; only the Hessian comes from
    generic autograd (forward-over-reverse) instead of the structured oracle.

    Parameters
    ----------
    mu0 : float
        Initial relative damping.
    """

    name = "autograd-newton"

    @staticmethod
    def memory_bytes(n: int, d: int) -> float:
        """Peak memory of ``torch.func.hessian``: like ``jax.hessian``, 2d² tangents of the n×n intermediates."""
        return 4.0 * 8.0 * (2 * d * d) * n * n

    def init_state(self, problem: Problem, X: Any, Y: Any) -> DampedState:
        return DampedState(X, Y, damping=Damping(self.mu0))

    def warm_imports(self, problem: Problem) -> None:
        import torch

        on_torch = torch.is_tensor(problem.A1)  # a harness may warm up before solve moves the problem to torch
        z = torch.ones(2, dtype=problem.A1.dtype if on_torch else torch.float64,
                       device=problem.A1.device if on_torch else "cpu")
        torch.func.grad_and_value(lambda v: (v * v).sum())(z)
        torch.func.hessian(lambda v: (v * v).sum())(z)

    def step(self, problem: Problem, state: DampedState) -> DampedState:
        import torch

        def f(z: Any) -> Any:
            return torch_loss(problem, *split(problem, z))

        z = join(problem, state.X, state.Y)
        g, current = torch.func.grad_and_value(f)(z)
        H = torch.func.hessian(f)(z)
        outcome = damped_newton_step(problem.backend, H, g, lambda p: float(f(z - p)), float(current), state.damping)
        return DampedState(*split(problem, z - outcome.p), damping=outcome.damping)
