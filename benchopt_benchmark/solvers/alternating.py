"""``alternating``: the paper's alternating method: exact least-squares Y, then a damped Newton step on X."""

from benchmark_utils import ProjectSolver


class Solver(ProjectSolver):
    name = "alternating"
