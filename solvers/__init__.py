"""attnreg: second-order training of one softmax-attention layer on NumPy, PyTorch and CuPy.

Importing this package imports neither torch nor CuPy and touches no GPU.
"""

from .backends import Backend, BackendUnavailable, available_backends, get_backend
from .problem import Problem
from .registry import get_solver, list_solvers, register
from .result import STATUSES, HistoryRow, SolveResult

__all__ = [
    "STATUSES", "Backend", "BackendUnavailable", "HistoryRow", "Problem", "SolveResult",
    "available_backends", "get_backend", "get_solver", "list_solvers", "register",
]
__version__ = "0.1.0"
