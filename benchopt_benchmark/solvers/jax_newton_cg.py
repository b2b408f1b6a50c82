"""``jax-newton-cg``: SciPy trust-ncg on jax.jit of value_and_grad and jvp∘grad (needs JAX: pip install jax)."""

from benchmark_utils import ProjectSolver


class Solver(ProjectSolver):
    name = "jax-newton-cg"
    requirements = ["pip::jax[cpu]"]
