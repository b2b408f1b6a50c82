"""``scipy-trust-ncg``: SciPy trust-ncg with the project's exact gradient and Hessian–vector product."""

from benchmark_utils import ProjectSolver


class Solver(ProjectSolver):
    name = "scipy-trust-ncg"
