"""``newton-cg``: matrix-free trust-region Newton–CG on exact Hessian–vector products."""

from benchmark_utils import ProjectSolver


class Solver(ProjectSolver):
    name = "newton-cg"
