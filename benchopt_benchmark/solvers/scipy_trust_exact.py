"""``scipy-trust-exact``: SciPy trust-exact with the project's exact gradient and Hessian."""

from benchmark_utils import ProjectSolver


class Solver(ProjectSolver):
    name = "scipy-trust-exact"
