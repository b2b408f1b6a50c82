"""The attention-regression problem L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F (docs/maths.md §1)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj, is_numpy_array

from . import check
from .backends import Backend, get_backend
from .oracle import ORACLES, Oracle
from .rowterms import softmax_rows

_INPUTS = ("A1", "A2", "A3", "B")

#: Share of the available host memory the oracles may use by default (``memory_budget``).
BUDGET_FRACTION = 0.25
#: n×n arrays the full-S Hessian–vector product keeps alive at once (sizes the auto choice).
FULL_S_ARRAYS = 8
#: Bytes of one b×n block the row-blocked oracles aim at: a few such blocks stay in L3, and the
#: block's products are large enough for BLAS's full rate. Measured on the quick grid (2 cores,
#: ``python scripts/oracle_speed.py --only layout``): at 8 MiB the blocked path was within 1.1×
#: of the faster of blocked and full at all 72 points (at 4 MiB 53, at 16 MiB 70, 4 % slower on
#: average than at 8); one block, on every BLAS thread, up to n = 1024; and torch's MKL runs the
#: blocks' products at n = 4096, d = 64 at NumPy's rate with 256 rows (8 MiB), 20 % slower with
#: 128 or 512.
BLOCK_BYTES = 2**23
#: Fewest rows per block where n is large (GEMMs of b×d×n and b×n×d keep ~2b flops per byte moved).
MIN_BLOCK_ROWS = 64
#: Backends whose default layout is the row-blocked one whatever the memory budget: on the host
#: (NumPy, torch on the CPU) the fused blocks (one ``exp`` per entry, in place, on every core) are
#: the faster path (``python scripts/oracle_speed.py``, ``python scripts/backend_ratios.py``);
#: GPU backends keep the full-S kernels (few large launches).
BLOCKED_BY_DEFAULT = ("numpy", "torch")
#: The standard start of every comparison in this project: X* + START_NOISE·G, with G standard
#: normal d×d from ``numpy.random.default_rng(START_SEED)`` (:meth:`Problem.start_near_solution`).
START_NOISE = 0.5
START_SEED = 5
#: Rows of B generated per block by :meth:`Problem.planted` (b×n memory, a few such temporaries; one block up to n = 2896).
GENERATION_BLOCK_BYTES = 2**26


def available_memory() -> int:
    """Bytes of host memory available now (``MemAvailable``), or the physical size if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_host_memory(n: int, d: int, what: str, arrays: int = 4, holding: str = "A1, A2, A3 and B") -> None:
    """Raise ``ValueError`` before drawing an n×d instance whose sizes are not positive integers or whose
    ``arrays`` n×d float64 host arrays (``holding`` says which: by default the instance's four) cannot fit in
    memory."""
    check.integer("n", n)
    check.integer("d", d)
    needed = arrays * n * d * 8
    available = available_memory()
    if needed > available:
        raise ValueError(f"{what} needs {needed / 2**30:.3g} GiB of host memory for {holding} "
                         f"({arrays}·n·d float64 numbers); {available / 2**30:.3g} GiB are available")


def shard_rows(n: int, shard: tuple[int, int]) -> slice:
    """Rows ``[rank·n/size, (rank+1)·n/size)`` that process ``rank`` of ``size`` holds."""
    rank, size = shard
    if not 0 <= rank < size or size > n:
        raise ValueError(f"shard {shard} must be (rank, size) with 0 ≤ rank < size ≤ n = {n}")
    return slice(rank * n // size, (rank + 1) * n // size)


def _check_world(backend: Backend, shard: tuple[int, int]) -> None:
    """Raise unless ``backend`` is process ``rank`` of a distributed run of ``size`` processes (``shard``):
    elsewhere its ``all_reduce`` sums nothing, and the process would minimise the loss of its own rows only."""
    rank, size = shard
    world = getattr(backend, "world", lambda: None)()
    if size > 1 and world != (rank, size):
        where = "one process" if world is None else f"process {world[0]} of {world[1]}"
        raise ValueError(f"shard={tuple(shard)} splits the rows over {size} processes, but backend "
                         f"{backend.name!r} runs {where}: its all_reduce would not sum the other processes' "
                         "rows, and every loss, gradient and step would be those of this shard alone. Shard on "
                         "a torch backend made with distributed=True inside torch.distributed's process group "
                         "(solvers.backends.torch.process_group)")


def _validate_host(name: str, array: Any, dtype: str = "float64") -> np.ndarray:
    """Check that ``array`` is a finite, real floating 2-D host array whose entries ``dtype`` can hold;
    return it as NumPy."""
    if not isinstance(array, np.ndarray):
        module = type(array).__module__.split(".")[0]
        if module in ("torch", "cupy"):
            raise TypeError(f"{name} is a {module} array; Problem takes host NumPy arrays and "
                            f"moves them to the backend itself (use .cpu().numpy() / cupy.asnumpy)")
        array = np.asarray(array)
    if array.dtype.kind != "f":
        kind = {"c": "complex", "i": "integer", "u": "unsigned integer", "b": "boolean"}.get(array.dtype.kind, str(array.dtype))
        raise ValueError(f"{name} must have a real floating dtype, got {kind} ({array.dtype})")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} has {bad} non-finite entries (NaN or inf)")
    largest, limit = float(np.max(np.abs(array))) if array.size else 0.0, float(np.finfo(dtype).max)
    if largest > limit:
        raise ValueError(f"{name} has entries up to {largest:.3g}, beyond what {dtype} holds ({limit:.3g}): "
                         "they would be inf on the backend")
    return array


def _held(array: np.ndarray) -> np.ndarray:
    """``array`` as a read-only host array no one else can change: a copy, unless it already is one
    (an array whose owner gave up writing to it, as :meth:`Problem.planted` does for what it draws)."""
    if array.flags.writeable or array.base is not None:
        array = array.copy()
    array.flags.writeable = False
    return array


class Problem:
    """Data of one attention-regression instance, resident on a backend.

    Parameters
    ----------
    A1, A2, A3, B : numpy.ndarray
        Host arrays of equal shape ``(n, d)``, finite, real floating dtype.
    backend : str or Backend
        Where the problem lives: ``"numpy"``, ``"torch"``, ``"torch-cuda"`` or ``"cupy"``.
    dtype : {"float64", "float32"}
        Precision on the backend (ignored when ``backend`` is a Backend instance).
    X_star, Y_star : numpy.ndarray, optional
        A known minimiser (planted instances), kept on the host.
    memory_budget : int, optional
        Bytes the oracles may use for their n-wide temporaries; default
        :data:`BUDGET_FRACTION` of the available host memory. Bounds the row blocks.
    blocked : bool, optional
        Force the row-blocked oracles (:mod:`solvers.rowblocks`) on or off; default: on for the
        backends of :data:`BLOCKED_BY_DEFAULT` (NumPy and torch on the CPU: one rule at every
        size, so a size sweep times one implementation throughout), when sharded, and when the full-S path would
        exceed the budget.
    shard : (rank, size), optional
        Hold only rows :func:`shard_rows` of A1 and B on the backend (one process of a
        row-sharded run); the backend's ``all_reduce`` then sums the partial results.

    Attributes
    ----------
    n, d : int
        Sequence length and feature dimension.
    A1, A2, A3, B : backend arrays
    A2_1 : backend array, n×(d+1)
        [A2 | 1], the right factor of the logits shifted by a known row log-sum-exp (:mod:`solvers.fusedblocks`).
    A2_t, A3_1_t : backend arrays, d×n and (d+1)×n
        A2ᵀ and [A3 | 1]ᵀ stored in their own order: the row blocks multiply them untransposed, which
        OpenBLAS runs 2–8 % faster than the transposes of A2 and [A3 | 1] (one thread, n×b blocks from
        (512, 32) to (4096, 64)) and in its small-matrix kernels (NumPy's panels).
    A1_max_row_norm2, A2_max_row_norm2 : float
        max_j ‖A1_j‖² and max_i ‖A2_i‖² over all n rows, which bound the logits
        (:func:`solvers.fusedblocks.logits_bounded`).
    host : dict of str to numpy.ndarray
        The inputs as given (all n rows), so that every backend can be fed identical numbers.
    rows : slice
        The rows of A1 and B this process holds (all of them unless sharded).
    blocked : bool
        Whether the oracles run row-blocked.
    full_s_fits : bool
        Whether the n×n arrays of the full-S path fit the memory budget (what a method that
        builds its own n×n arrays, such as the JAX peers, needs).
    layout : {"dense", "blocked", "sharded"}
        The oracles' layout, chosen once here (:mod:`solvers.oracle`): the n×n softmax held,
        row blocks within the memory budget, or row blocks of this process's shard.
    block_rows, hessian_block_rows : int
        Rows per block of the row-blocked oracles and of the blocked X-Hessian. ``block_rows``:
        :data:`BLOCK_BYTES` of n-wide rows (at least :data:`MIN_BLOCK_ROWS`) within the budget, so
        that up to n = 1024 a problem is one block (the full path, without the threads' hand-off,
        about 0.2 ms a call on 2 cores) and beyond, the blocks share the cores.
    """

    def __init__(self, A1: Any, A2: Any, A3: Any, B: Any, *, backend: str | Backend = "numpy",
                 dtype: str = "float64", X_star: np.ndarray | None = None,
                 Y_star: np.ndarray | None = None, name: str = "custom", memory_budget: int | None = None,
                 blocked: bool | None = None, shard: tuple[int, int] | None = None) -> None:
        arrays = {key: _held(_validate_host(key, value, dtype)) for key, value in zip(_INPUTS, (A1, A2, A3, B))}
        shape = arrays["A1"].shape
        for key, value in arrays.items():
            if value.shape != shape:
                raise ValueError(f"{key} has shape {value.shape} but A1 has shape {shape}; "
                                 "A1, A2, A3 and B must all be n×d")
        self.n, self.d = shape
        if self.n < 1 or self.d < 1:
            raise ValueError(f"n and d must be positive, got n={self.n}, d={self.d}")
        self.backend = get_backend(backend, dtype)
        self.xp = self.backend.xp
        self.dtype = self.backend.dtype
        self.host = arrays
        self.shard = shard
        self.rows = slice(0, self.n) if shard is None else shard_rows(self.n, shard)
        if shard is not None:
            _check_world(self.backend, shard)
        self.A1, self.B = (self.backend.asarray(arrays[key][self.rows]) for key in ("A1", "B"))
        self.A2, self.A3 = (self.backend.asarray(arrays[key]) for key in ("A2", "A3"))
        ones = np.ones((self.n, 1))
        self.A2_1 = self.backend.asarray(np.concatenate([arrays["A2"], ones], axis=1))
        self.A2_t = self.backend.asarray(np.ascontiguousarray(arrays["A2"].T))
        self.A3_1_t = self.backend.asarray(np.concatenate([arrays["A3"].T, ones.T], axis=0))
        self.A1_max_row_norm2, self.A2_max_row_norm2 = (float(np.max(np.einsum("ij,ij->i", arrays[key], arrays[key])))
                                                        for key in ("A1", "A2"))
        self._choose_blocks(memory_budget, blocked)
        for key, value in (("X_star", X_star), ("Y_star", Y_star)):
            if value is not None and np.shape(value) != (self.d, self.d):
                raise ValueError(f"{key} must be d×d = {(self.d, self.d)}, got {np.shape(value)}")
        self.X_star, self.Y_star = (None if value is None else _held(np.asarray(value, dtype=np.float64))
                                    for value in (X_star, Y_star))
        self.name = name

    def _choose_blocks(self, memory_budget: int | None, blocked: bool | None) -> None:
        """Set ``memory_budget``, ``blocked``, ``block_rows`` and ``hessian_block_rows``."""
        if memory_budget is not None:
            check.number("memory_budget (bytes)", memory_budget, above=0.0)
        check.flag("blocked", blocked, optional=True)
        if blocked is False and self.shard is not None:
            raise ValueError("a sharded problem needs the row-blocked oracles (blocked=False given)")
        self.memory_budget = int(memory_budget or BUDGET_FRACTION * available_memory())
        item = np.dtype(self.dtype).itemsize
        n, d, m = self.n, self.d, self.rows.stop - self.rows.start
        self._blocked_asked = blocked
        self.full_s_fits = FULL_S_ARRAYS * n * n * item <= self.memory_budget
        self.blocked = (blocked if blocked is not None else self.shard is not None or not self.full_s_fits
                        or self.backend.name in BLOCKED_BY_DEFAULT)
        self.layout = "sharded" if self.shard is not None else "blocked" if self.blocked else "dense"
        self._oracle = ORACLES[self.layout]
        budget_rows = self.memory_budget // (FULL_S_ARRAYS * n * item)
        self.block_rows = max(1, min(m, budget_rows, max(MIN_BLOCK_ROWS, BLOCK_BYTES // (n * item))))
        self.hessian_block_rows = max(1, min(m, self.memory_budget // ((FULL_S_ARRAYS * n + 8 * d * d) * item)))

    @classmethod
    def planted(cls, n: int, d: int, seed: int = 0, *, backend: str | Backend = "numpy",
                dtype: str = "float64", noise: float = 0.0, **options: Any) -> "Problem":
        """Instance with a known zero-loss minimiser (docs/maths.md §1), or that plus noise.

        With ``rng = numpy.random.default_rng(seed)`` draw, in this order, A1, A2, A3 with
        N(0, 1/d) entries, X* with N(0, 0.25) entries and Y* with N(0, 1) entries; then
        B = softmax_rows(A1 X* A2ᵀ) A3 Y*, so min L = 0. B is computed in blocks of rows
        (:data:`GENERATION_BLOCK_BYTES` per block), so the n×n softmax is never held and
        every process of a sharded run draws the same problem. ``options`` are those of
        :class:`Problem` (``memory_budget``, ``blocked``, ``shard``).

        With ``noise`` = η > 0, the same rng then draws N (n×d, standard normal) and
        B ← B + η ‖B‖_F N / ‖N‖_F: noise of exactly η times the size of B, what one attention
        layer does not explain (min L > 0; X*, Y* are kept as the planted point, no longer a
        minimiser). η = 0 draws nothing more, so the planted numbers are unchanged.
        """
        if not (np.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite number ≥ 0 (a fraction of ‖B‖), got {noise!r}")
        check_host_memory(n, d, f"planted(n={n}, d={d})")
        rng = np.random.default_rng(seed)
        A1, A2, A3 = _draw_inputs(rng, n, d)
        X_star = rng.normal(0.0, 0.5, size=(d, d))
        Y_star = rng.normal(0.0, 1.0, size=(d, d))
        logits, V = A1 @ X_star, A3 @ Y_star
        B = np.empty((n, d))
        step = max(1, GENERATION_BLOCK_BYTES // (8 * n))
        for start in range(0, n, step):
            rows = slice(start, start + step)
            B[rows] = softmax_rows(np, logits[rows] @ A2.T) @ V
        name = f"planted(n={n}, d={d}, seed={seed})"
        if noise:
            N = rng.standard_normal((n, d))
            B += (noise * np.linalg.norm(B) / np.linalg.norm(N)) * N
            name = f"planted(n={n}, d={d}, seed={seed}, noise={noise:g})"
        return cls(*_given_up(A1, A2, A3, B), backend=backend, dtype=dtype, X_star=_given_up(X_star)[0],
                   Y_star=_given_up(Y_star)[0], name=name, **options)

    @classmethod
    def random(cls, n: int, d: int, seed: int = 0, *, backend: str | Backend = "numpy",
               dtype: str = "float64", **options: Any) -> "Problem":
        """Instance with A1, A2, A3 drawn as in :meth:`planted` and B with N(0, 1) entries."""
        check_host_memory(n, d, f"random(n={n}, d={d})")
        rng = np.random.default_rng(seed)
        A1, A2, A3 = _draw_inputs(rng, n, d)
        B = rng.normal(0.0, 1.0, size=(n, d))
        return cls(*_given_up(A1, A2, A3, B), backend=backend, dtype=dtype, name=f"random(n={n}, d={d}, seed={seed})",
                   **options)

    def start_near_solution(self, noise: float = START_NOISE, seed: int = START_SEED) -> np.ndarray:
        """A starting X = X* + ``noise``·G on the host, G standard normal d×d from ``default_rng(seed)``.

        The start every comparison in this project uses (``attnreg compare --start-noise``,
        the reproduction's convergence runs, the asv convergence suite); Y then starts at the
        exact least-squares step. Needs a planted problem (known X*).
        """
        if self.X_star is None:
            raise ValueError(f"{self.name} has no planted minimiser X*: a start near it needs Problem.planted")
        return self.X_star + noise * np.random.default_rng(seed).standard_normal((self.d, self.d))

    def oracle(self, X: Any, Y: Any | None = None, forward: Any = None) -> Oracle:
        """The oracle of the iterate (X, Y) in this problem's layout (:mod:`solvers.oracle`).

        ``X`` and ``Y`` are d×d arrays of this backend and are not checked (the solvers call
        this inside their loops); ``Y`` may be ``None`` when only the exact Y step at X is
        wanted (:meth:`solvers.oracle.Oracle.least_squares`).
        """
        return self._oracle(self, X, Y, forward)

    def on(self, backend: str | Backend, dtype: str | None = None) -> "Problem":
        """The same numbers on another backend (or dtype); a layout left to the default is chosen
        again for that backend (:data:`BLOCKED_BY_DEFAULT`), one asked for is kept."""
        return Problem(*(self.host[key] for key in _INPUTS), backend=backend,
                       dtype=dtype or self.dtype, X_star=self.X_star, Y_star=self.Y_star, name=self.name,
                       memory_budget=self.memory_budget, blocked=self._blocked_asked, shard=self.shard)

    def as_variable(self, value: Any, name: str) -> Any:
        """Return ``value`` (a host or a backend array) as a d×d backend array, or raise.

        Host arrays (NumPy, nested lists) are validated and copied to the device; arrays of
        this backend (``backend.owns``) are checked (real floating, finite) and used in place;
        arrays of another library or device raise ``TypeError`` rather than being silently moved.
        """
        library = type(value).__module__.split(".")[0]
        if is_numpy_array(value) or not is_array_api_obj(value):
            host = _validate_host(name, np.asarray(value), self.dtype)
            value = self.backend.asarray(host)  # a copy: the caller's array and the solver's iterate never alias
        elif not self.backend.owns(value):
            raise TypeError(f"{name} is a {library} array on {getattr(value, 'device', '?')}, but the problem "
                            f"lives on backend {self.backend.name!r} ({self.backend.device})")
        else:
            if not self.xp.isdtype(value.dtype, "real floating"):
                raise ValueError(f"{name} must have a real floating dtype, got {value.dtype}")
            if not bool(self.xp.all(self.xp.isfinite(value))):
                raise ValueError(f"{name} has non-finite entries (NaN or inf)")
            if str(value.dtype).rsplit(".", 1)[-1] != self.dtype:
                value = self.xp.astype(value, getattr(self.xp, self.dtype))
        if tuple(value.shape) != (self.d, self.d):
            raise ValueError(f"{name} must be d×d = {(self.d, self.d)}, got shape {tuple(value.shape)}")
        return value

    def __repr__(self) -> str:
        return f"Problem({self.name}, backend={self.backend.name!r}, dtype={self.dtype!r})"


def _given_up(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Freshly drawn arrays, made read-only so that :class:`Problem` holds them without a copy (:func:`_held`)."""
    for array in arrays:
        array.flags.writeable = False
    return arrays


def _draw_inputs(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scale = 1.0 / np.sqrt(d)
    return tuple(rng.normal(0.0, scale, size=(n, d)) for _ in range(3))  # type: ignore[return-value]
