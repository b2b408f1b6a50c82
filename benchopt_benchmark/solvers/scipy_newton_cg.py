"""``scipy-newton-cg``: SciPy Newton-CG with the project's exact gradient and Hessian–vector product."""

from benchmark_utils import ProjectSolver


class Solver(ProjectSolver):
    name = "scipy-newton-cg"
