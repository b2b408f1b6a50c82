"""``jax-newton``: damped Newton with jax.jit(jax.hessian(L)) (needs JAX: pip install jax)."""

from benchmark_utils import ProjectSolver


class Solver(ProjectSolver):
    name = "jax-newton"
    requirements = ["pip::jax[cpu]"]
