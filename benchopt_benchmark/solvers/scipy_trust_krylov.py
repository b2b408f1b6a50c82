"""``scipy-trust-krylov``: SciPy trust-krylov with the project's exact gradient and Hessian–vector product."""

from benchmark_utils import ProjectSolver


class Solver(ProjectSolver):
    name = "scipy-trust-krylov"
