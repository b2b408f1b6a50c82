"""``lbfgs``: SciPy L-BFGS-B with the project's exact gradient."""

from benchmark_utils import ProjectSolver


class Solver(ProjectSolver):
    name = "lbfgs"
