"""Structured d²×d² X-Hessian (docs/maths.md §4) against ``torch.func.hessian`` of the same loss.

asv times both; run this file directly for the ratio measured side by side in one process::

    python benchmarks/hessian_vs_autograd.py --n 64 --d 32
"""

from __future__ import annotations

import argparse

import numpy as np
from asv_runner.benchmarks.mark import SkipNotImplemented

from solvers import Problem, get_backend, oracles
from solvers.harness.measure import stages  # the module, not time_body: asv would collect a time_* function


def _setup(n: int, d: int):
    problem = Problem.planted(n, d, seed=0)
    rng = np.random.default_rng(1)
    X = problem.X_star + 0.1 * rng.standard_normal((d, d))
    return problem, X, problem.Y_star


def _structured(problem: Problem, X: np.ndarray, Y: np.ndarray):
    """The structured X-Hessian at (X, Y) as a call on backend arrays made once, as the autograd route gets its
    tensor: the public :func:`solvers.oracles.hessian_x` would validate and copy X and Y on every call."""
    point = (problem.as_variable(X, "X"), problem.as_variable(Y, "Y"))
    return lambda: problem.oracle(*point).hessian_x()


def _torch_hessian(problem: Problem, Y: np.ndarray):
    import torch

    A1, A2, A3, B = (torch.tensor(problem.host[k], dtype=torch.float64) for k in ("A1", "A2", "A3", "B"))
    V = A3 @ torch.tensor(Y, dtype=torch.float64)
    d = problem.d

    def loss(x):
        return ((torch.softmax(A1 @ x.reshape(d, d) @ A2.T, dim=1) @ V - B) ** 2).sum()

    return torch.func.hessian(loss)


class HessianVersusAutograd:
    """NumPy float64: the structured assembly and the generic autograd route (torch CPU).

    Fixed sizes, independent of the grid; the autograd benchmark is n/a without torch.
    """

    params = ([32, 64], [8, 16, 32])
    param_names = ["n", "d"]
    number = 1
    warmup_time = 0.0

    def setup(self, n: int, d: int) -> None:
        self.problem, self.X, self.Y = _setup(n, d)
        self._structured = _structured(self.problem, self.X, self.Y)
        self._structured()
        try:
            import torch
        except ImportError:
            self._autograd = None
            return
        self._autograd = _torch_hessian(self.problem, self.Y)
        self._x = torch.tensor(self.X.reshape(-1))
        self._autograd(self._x)

    def time_structured_hessian(self, n: int, d: int) -> None:
        self._structured()

    def time_torch_func_hessian(self, n: int, d: int) -> None:
        if self._autograd is None:
            raise SkipNotImplemented("torch is not installed")
        self._autograd(self._x)


def _median_time(fn, backend, repeat: int) -> tuple[float, float]:
    """Median and interquartile range of ``repeat`` synchronised calls after one warm-up."""
    samples = stages.time_body(fn, backend, repeat=repeat + 1)[1:]
    q25, median, q75 = np.percentile(samples, [25, 50, 75])
    return float(median), float(q75 - q25)


def main() -> None:
    """Print both timings and their ratio, first with glibc's allocator defaults (what a
    user's own script gets), then under the harness's allocator policy (solvers/allocator.py)."""
    import torch

    from solvers.harness.measure.allocator import allocator_policy, retain_freed_memory

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    problem, X, Y = _setup(args.n, args.d)
    autograd = _torch_hessian(problem, Y)
    x = torch.tensor(X.reshape(-1))
    error = float(np.abs(autograd(x).numpy() - oracles.hessian_x(problem, X, Y)).max())
    print(f"n={args.n} d={args.d} float64, torch threads={torch.get_num_threads()}, max |difference| {error:.1e}")
    structured = _structured(problem, X, Y)
    for _ in ("default", "retain"):
        ours, ours_iqr = _median_time(structured, problem.backend, 4 * args.repeat)
        theirs, theirs_iqr = _median_time(lambda: autograd(x), get_backend("torch"), args.repeat)
        print(f"allocator {allocator_policy()['policy']:6s}: structured hessian_x {ours * 1e3:7.2f} ms "
              f"(IQR {ours_iqr * 1e3:.2f}), torch.func.hessian {theirs * 1e3:7.2f} ms (IQR {theirs_iqr * 1e3:.2f}), "
              f"speed-up {theirs / ours:6.1f}x")
        retain_freed_memory()


if __name__ == "__main__":
    main()
