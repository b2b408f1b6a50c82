"""``gauss-newton``: Levenberg–Marquardt with the joint Gauss–Newton matrix 2JᵀJ."""

from benchmark_utils import ProjectSolver


class Solver(ProjectSolver):
    name = "gauss-newton"
