"""The solver families, one module each; :data:`METHODS` is every method the registry offers.

The modules import the loop and the oracles, never the registry: :mod:`solvers.registry`
reads :data:`METHODS` (on first use, so ``import solvers`` stays light), and the methods'
own ``name`` attributes are their registered names. torch, SciPy's optimisers and JAX are
imported only when a method that needs them runs.
"""

from __future__ import annotations

from .alternating import Alternating
from .jax_peers import JaxLBFGS, JaxNewton, JaxNewtonCG, JaxTrustKrylov
from .newton import GaussNewton, JointNewton
from .newton_cg import NewtonCG
from .peers import Adam, AutogradNewton, GradientDescent, TorchLBFGS
from .scipy_peers import LBFGS, ScipyNewtonCG, ScipyTrustExact, ScipyTrustKrylov, ScipyTrustNCG
from .sketched import Sketched
from .varpro import VarPro

#: Every method, in the order ``list_solvers`` gives: the project's methods, then the peers.
METHODS = (Alternating, Sketched, JointNewton, GaussNewton, NewtonCG, VarPro, Adam, GradientDescent, TorchLBFGS,
           AutogradNewton,
           LBFGS, ScipyTrustNCG, ScipyTrustKrylov, ScipyTrustExact, ScipyNewtonCG, JaxNewtonCG, JaxNewton,
           JaxLBFGS, JaxTrustKrylov)

#: The method ``attnreg solve`` runs and ``attnreg compare`` puts first: the best on the benchmark
#: matrix's performance profile (README, "The benchmark matrix").
DEFAULT_METHOD = "varpro"

__all__ = ["DEFAULT_METHOD", "METHODS", *(method.__name__ for method in METHODS)]
