"""``varpro``: variable projection: Y eliminated by least squares, Gauss–Newton on X by trust-region CG."""

from benchmark_utils import ProjectSolver


class Solver(ProjectSolver):
    name = "varpro"
