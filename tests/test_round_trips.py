"""Host round trips inside the iteration loop stay within a budget per solver.

On a GPU every conversion of a device array to a Python scalar (or a host copy) waits for
the device to finish its queue: a solver that converts a scalar per vector operation is
latency-bound however fast its products are. The budget is what the algorithm needs: one
transfer per Hessian–vector product (CG's curvature, residual and norms fetched together),
two per damping trial (did the factorisation succeed; the trial's loss), and two per step
(the step's own scale; the loss and gradient norm at the new iterate, for the stopping test).

Counted on torch (CPU, with the host kernels off: the same code path as CUDA) and on array-api-strict, which stands in
for NumPy (NumPy's own scalars convert without a hook to count them).
"""

from __future__ import annotations

import collections

import numpy as np
import pytest

from solvers import Problem, get_backend, get_solver
from solvers.oracle import Oracle

from .strict_backend import _ARRAY_TYPE, StrictBackend

#: Conversions to a Python scalar or to the host, per array type.
HOOKS = {"torch": ("__float__", "__bool__", "__int__", "__index__", "item", "tolist", "numpy"),
         "array-api-strict": ("__float__", "__bool__", "__int__", "__index__", "to_device")}

SOLVERS = ("alternating", "sketched", "joint-newton", "gauss-newton", "newton-cg", "varpro")


def _backend(name: str):
    if name == "torch":
        torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")
        backend = get_backend("torch")
        # CUDA's code path: without the host kernels (a CPU-only shortcut that reads the logits' bound
        # on the host, free there), as the torch-cuda backend is built
        backend.exp_inplace = backend.product_into = None
        return backend, torch.Tensor
    return StrictBackend(), _ARRAY_TYPE


@pytest.mark.parametrize("backend_name", list(HOOKS))
@pytest.mark.parametrize("method", SOLVERS)
def test_round_trips_per_step_within_budget(backend_name, method, monkeypatch):
    backend, array_type = _backend(backend_name)
    counts: collections.Counter = collections.Counter()
    paused = []
    for hook in HOOKS[backend_name]:
        real = getattr(array_type, hook)

        def counted(self, *args, _real=real, **kwargs):
            counts["transfers"] += not paused
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(array_type, hook, counted)
    real_cho_solve = backend.cho_solve
    problem = Problem.planted(48, 4, seed=1, backend=backend)
    for product in ("hvp", "varpro_gn_product"):  # one Hessian (or Gauss–Newton) vector product
        oracle_class = type(problem.oracle(problem.X_star))

        def counted_product(*args, _real=getattr(oracle_class, product), **kwargs):
            counts["products"] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(oracle_class, product, counted_product)

    def cho_solve(H, b, shift=0.0):
        """One damping trial; on array-api-strict the factorisation runs on host copies by design."""
        counts["trials"] += 1
        paused.append(backend_name == "array-api-strict")
        try:
            return real_cho_solve(H, b, shift)
        finally:
            paused.pop() if not paused[-1] else paused.clear()

    monkeypatch.setattr(backend, "cho_solve", cho_solve)
    X0 = problem.X_star + 0.5 * np.random.default_rng(5).standard_normal((4, 4))
    solver = get_solver(method)
    steps = []
    real_step = type(solver).step

    def step(self, problem, state):
        counts.clear()
        new = real_step(self, problem, state)
        steps.append(dict(counts))
        return new

    monkeypatch.setattr(type(solver), "step", step)
    result = solver.solve(problem, X0, eps=1e-20, max_iter=6)
    assert result.status in ("max_iter", "converged") and len(steps) >= 3, result.message
    assert any(c.get("products", 0) + c.get("trials", 0) for c in steps), steps  # the hooks saw the work
    for c in steps:
        budget = c.get("products", 0) + 2 * c.get("trials", 0) + 2
        assert c.get("transfers", 0) <= budget, (method, backend_name, steps)
