"""The row-blocked oracles (solvers/rowblocks.py) agree with the full-S kernels, on every backend.

Blocks of 1 row, of a size that does not divide n, and of more rows than n; float64 to 1e-12
relative (y_solve, a d×d solve, to its condition number times that). A Problem decides
blocking from n and its memory budget, shards hold only their rows, and planted problems
are still those of the full-S generator.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from solvers import Problem, fusedblocks, get_solver, oracles, rowblocks
from solvers.backends import backend_unavailable_reason
from solvers.backends.numpy import NumpyBackend
from solvers.problem import shard_rows

from .conftest import backend_param

N, D = 37, 5
BACKENDS = [backend_param("numpy"), backend_param("torch"), pytest.param("strict", id="array-api-strict")]

def _second_product(p, X, Y, D):
    """Two products at one oracle: the second reuses its forward pass and cache."""
    point = p.oracle(X, Y)
    point.hvp(D, None)
    return point.hvp(D, D)


def _varpro(p, X, Y, D, *, matrix: bool):
    """The variable-projection Gauss–Newton matrix, or its product with D, at (X, Y(X))."""
    point, step = p.oracle(X).least_squares()
    return point.varpro_gauss_newton(step.Q) if matrix else point.varpro_gn_product(step.Q, D)


ORACLES = {
    "loss": lambda p, X, Y, D: p.oracle(X, Y).loss,
    "grad": lambda p, X, Y, D: p.oracle(X, Y).grad,
    "value_and_grad": lambda p, X, Y, D: (lambda loss, g: (loss, *g))(*p.oracle(X, Y).value_and_grad()),
    "hvp": lambda p, X, Y, D: p.oracle(X, Y).hvp(D, 2.0 * X),
    "hvp-dY_only": lambda p, X, Y, D: p.oracle(X, Y).hvp(None, D),
    "hvp_x": lambda p, X, Y, D: p.oracle(X, Y).hvp_x(D),
    "hvp-shared-forward": _second_product,
    "hessian_x": lambda p, X, Y, D: p.oracle(X, Y).hessian_x(),
    "hessian_x-gauss_newton": lambda p, X, Y, D: p.oracle(X, Y).hessian_x(gauss_newton=True),
    "hessian_x-rows-weights": lambda p, X, Y, D: p.oracle(X, Y).hessian_x(rows=[3, 1, 30, 4],
                                                                          weights=[0.5, 2.0, 1.0, 3.0]),
    "hessian_joint": lambda p, X, Y, D: p.oracle(X, Y).hessian_joint(),
    "hessian_joint-gauss_newton": lambda p, X, Y, D: p.oracle(X, Y).hessian_joint(gauss_newton=True),
    "varpro_gauss_newton": lambda p, X, Y, D: _varpro(p, X, Y, D, matrix=True),
    "varpro_gn_product": lambda p, X, Y, D: _varpro(p, X, Y, D, matrix=False),
    "y_step": lambda p, X, Y, D: p.oracle(X).least_squares()[1][:2],
    # reuses the log-sum-exp of the Y step; ∇_Y L is 0 there up to rounding, so only (L, ∇_X L) are compared
    "value_and_grad-at-Y(X)": lambda p, X, Y, D: (lambda loss, g: (loss, g[0]))(
        *p.oracle(X).least_squares()[0].value_and_grad()),
}


def _backend(name: str):
    """The backend called ``name`` and the context its arrays need (array-api-strict's flags)."""
    if name != "strict":
        return name, contextlib.nullcontext()
    strict = pytest.importorskip("array_api_strict", minversion="2.2", reason="array-api-strict>=2.2 is not installed")
    from .strict_backend import StrictBackend

    return StrictBackend(), strict.ArrayAPIStrictFlags(api_version="2023.12")


def _pair(backend: str, block: int) -> tuple[Problem, Problem]:
    """The same planted problem with full-S and with row-blocked oracles of ``block`` rows."""
    full = Problem.planted(N, D, seed=2, backend=backend, blocked=False)
    blocked = Problem.planted(N, D, seed=2, backend=backend, blocked=True)
    blocked.block_rows = blocked.hessian_block_rows = block
    return full, blocked


def _rel(problem: Problem, got, want) -> float:
    got, want = (np.asarray(problem.backend.to_numpy(a)) if not isinstance(a, float) else np.asarray(a)
                 for a in (got, want))
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def _flat(value) -> list:
    return [part for part in (value if isinstance(value, tuple) else (value,)) if part is not None]


@pytest.mark.parametrize("block", [1, 8, 64], ids=["b=1", "b=8-not-dividing-37", "b>n"])
@pytest.mark.parametrize("oracle", list(ORACLES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_blocked_oracle_equals_full_s(backend, oracle, block, rng):
    backend, flags = _backend(backend)
    with flags:
        full, blocked = _pair(backend, block)
        X, Y, Dir = (full.as_variable(0.7 * rng.standard_normal((D, D)), name) for name in "XYD")
        want, got = (_flat(ORACLES[oracle](p, X, Y, Dir)) for p in (full, blocked))
        assert len(want) == len(got)
        for w, g in zip(want, got):
            assert _rel(full, g, w) < 1e-12


@pytest.mark.parametrize("block", [1, 8, 64])
@pytest.mark.parametrize("backend", BACKENDS)
def test_blocked_values_and_y_solve(backend, block, rng):
    backend, flags = _backend(backend)
    with flags:
        full, blocked = _pair(backend, block)
        X = full.as_variable(0.7 * rng.standard_normal((D, D)), "X")
        P, B, lse_at_x = rowblocks.values_and_targets(blocked, X)
        assert _rel(full, P, oracles.softmax_rows(full.xp, (full.A1 @ X) @ full.A2.T) @ full.A3) < 1e-12
        assert _rel(full, B, full.B) == 0.0
        assert _rel(full, oracles.y_solve(blocked, X), oracles.y_solve(full, X)) < 1e-12
        lse = blocked.oracle(X, X).forward.S.lse  # P from a forward pass's log-sum-exp: one exp per block
        assert _rel(full, rowblocks.values_and_targets(blocked, X, lse)[0], P) < 1e-12
        assert _rel(full, lse_at_x, lse) < 1e-12  # and the log-sum-exp it computed is the forward pass's


def test_blocked_forward_keeps_no_n_by_n_array():
    problem = Problem.planted(N, D, seed=2, blocked=True)
    point = problem.oracle(problem.X_star, problem.Y_star)
    assert isinstance(point.forward.S, rowblocks.RowSoftmax) and point.layout == "blocked"
    assert point.forward.S.lse.shape == (N, 1) and point.forward.R.shape == (N, D)
    assert point.loss < 1e-25


def test_problem_chooses_blocks_from_the_memory_budget():
    # the host backends run row-blocked by default at every size; the full-S path only when asked for
    assert Problem.planted(64, 4).blocked and Problem.planted(2048, 2).layout == "blocked"
    assert not Problem.planted(64, 4, blocked=False).blocked
    assert Problem.planted(64, 4).full_s_fits and not Problem.planted(64, 4, memory_budget=1).full_s_fits
    tight = Problem.planted(64, 4, memory_budget=64 * 64 * 8 * 4)  # half what the full-S path needs
    assert tight.blocked and tight.block_rows == 32  # 8 arrays of 32×64 fit
    assert Problem.planted(64, 4, memory_budget=1).block_rows == 1
    assert Problem.planted(512, 4).block_rows == 512  # small n: one block, the full path
    if backend_unavailable_reason("torch") is None:  # a default layout is chosen again for the new backend
        assert Problem.planted(64, 4).on("torch").layout == "blocked"
        assert Problem.planted(64, 4, blocked=False).on("torch").layout == "dense"
    assert Problem.planted(4096, 4).block_rows == 256  # 8 MiB of rows
    assert Problem.planted(2**17, 1).block_rows == 64  # at least 64 rows
    with pytest.raises(ValueError, match="memory_budget"):
        Problem.planted(8, 2, memory_budget=-1)


def process_of(rank: int, size: int) -> NumpyBackend:
    """A NumPy backend that says it is process ``rank`` of ``size`` (its all_reduce still sums nothing:
    for tests of what a shard holds, never of what it computes)."""
    backend = NumpyBackend("float64")
    backend.world = lambda: (rank, size)  # type: ignore[attr-defined]
    return backend


def test_a_shard_holds_only_its_rows():
    whole = Problem.planted(10, 3, seed=4)
    parts = [Problem.planted(10, 3, seed=4, shard=(rank, 3), backend=process_of(rank, 3)) for rank in range(3)]
    assert [p.rows for p in parts] == [slice(0, 3), slice(3, 6), slice(6, 10)]
    assert all(p.blocked for p in parts)
    np.testing.assert_array_equal(np.concatenate([p.A1 for p in parts]), whole.A1)
    np.testing.assert_array_equal(np.concatenate([p.B for p in parts]), whole.B)
    assert all(p.A2.shape == (10, 3) for p in parts)
    assert shard_rows(5, (4, 5)) == slice(4, 5)
    with pytest.raises(ValueError, match="shard"):
        shard_rows(2, (0, 3))


@pytest.mark.parametrize("backend", [None, (1, 3), (0, 2)])
def test_a_shard_needs_the_process_it_names(backend):
    """Outside a distributed run of that many processes (or as another rank) all_reduce sums nothing, and a
    shard would minimise the loss of its own rows: refused. One process of one is the whole problem."""
    with pytest.raises(ValueError, match=r"shard=\(0, 3\) splits the rows over 3 processes.*this shard alone"):
        Problem.planted(10, 3, seed=4, shard=(0, 3), backend="numpy" if backend is None else process_of(*backend))
    assert Problem.planted(10, 3, seed=4, shard=(0, 1)).rows == slice(0, 10)


def test_planted_problems_are_generated_in_row_blocks_without_changing_them(monkeypatch):
    whole = Problem.planted(50, 4, seed=7)
    monkeypatch.setattr("solvers.problem.GENERATION_BLOCK_BYTES", 8 * 50 * 3)  # 3 rows per block
    np.testing.assert_allclose(Problem.planted(50, 4, seed=7).host["B"], whole.host["B"], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("method", ["newton-cg", "alternating", "sketched", "lbfgs", "varpro", "gauss-newton",
                                    "scipy-trust-exact"])
def test_solvers_on_a_blocked_problem_follow_the_full_path(method):
    full, blocked = (Problem.planted(40, 3, seed=1, blocked=flag) for flag in (False, True))
    X0 = full.X_star + 0.5 * np.random.default_rng(5).standard_normal((3, 3))
    runs = [get_solver(method).solve(problem, X0, eps=1e-14, max_iter=6) for problem in (full, blocked)]
    assert runs[0].status == runs[1].status and runs[0].iterations == runs[1].iterations
    # the layouts round differently (P = (E A3)/Σ against (E/Σ) A3, row sums folded into products);
    # the iterations amplify rounding: a 1e-15 relative change of X0 moves the full path's own varpro
    # history by up to 7.5e-10 of the first loss, so the layouts are compared to 1e-8 of it
    np.testing.assert_allclose([r.loss for r in runs[1].history], [r.loss for r in runs[0].history], rtol=1e-8,
                               atol=1e-8 * runs[0].history[0].loss)


@pytest.mark.parametrize("method", ["joint-newton", "autograd-newton", "varpro"])
def test_methods_give_the_same_iterates_blocked_and_full(method):
    """joint-newton sums its joint Hessian block by block; the autograd peers differentiate the blocked forward."""
    if method == "autograd-newton":
        pytest.importorskip("torch")
    full, blocked = (Problem.planted(N, D, seed=2, blocked=flag) for flag in (False, True))
    want, got = (get_solver(method).solve(p, p.start_near_solution(), eps=0.0, max_iter=2) for p in (full, blocked))
    assert got.status == want.status == "max_iter"
    np.testing.assert_allclose([r.loss for r in got.history], [r.loss for r in want.history], rtol=1e-12)


@pytest.mark.parametrize("method", ["jax-newton", "jax-newton-cg"])
def test_a_method_that_builds_its_own_n_by_n_arrays_is_skipped_where_they_exceed_the_budget(method):
    from solvers.registry import solver_class

    tight = Problem.planted(N, D, seed=2, memory_budget=N * N * 8)  # below the full-S path's arrays
    reason = solver_class(method).skip(tight)
    assert tight.layout == "blocked" and reason and "memory budget" in reason
    shard = Problem.planted(N, D, seed=2, shard=(0, 2), backend=process_of(0, 2))
    assert solver_class(method).skip(shard) is not None
    for blocked in (True, False):  # within the budget the oracles' layout does not matter to JAX
        assert solver_class(method).skip(Problem.planted(N, D, seed=2, blocked=blocked)) is None


@pytest.mark.parametrize("method", ["varpro", "joint-newton"])
def test_a_memory_budget_bounds_what_a_solve_allocates(method):
    """Under a budget below one n×n array, a solve allocates a few budgets at most (tracemalloc sees NumPy)."""
    import tracemalloc

    n, d, budget = 2048, 3, 2**22  # the n×n softmax alone would take 32 MiB
    problem = Problem.planted(n, d, seed=0, memory_budget=budget)
    assert problem.layout == "blocked"
    X0 = problem.start_near_solution()
    tracemalloc.start()
    try:
        result = get_solver(method).solve(problem, X0, eps=0.0, max_iter=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status == "max_iter", result.message
    assert peak < n * n * 8 / 2, f"{method} allocated {peak / 2**20:.1f} MiB at its peak"


@pytest.mark.parametrize("scale", [0.7, 400.0], ids=["unshifted-exp", "row-maxima"])
@pytest.mark.parametrize("backend", [backend_param("numpy"), backend_param("torch")])
def test_host_blocks_take_row_maxima_only_past_the_unshifted_limit(backend, scale, rng):
    """Small logits skip the row maxima (exp(Z) cannot overflow); logits of thousands take them, and agree too."""
    full, blocked = _pair(backend, 8)
    X, Y, Dir = (full.as_variable(scale * rng.standard_normal((D, D)), name) for name in "XYD")
    assert fusedblocks.operands(blocked, X, Y).bounded == (scale < 1)
    for oracle in ("loss", "value_and_grad", "hvp", "y_step"):
        want, got = (_flat(ORACLES[oracle](p, X, Y, Dir)) for p in (full, blocked))
        for w, g in zip(want, got):
            assert np.all(np.isfinite(blocked.backend.to_numpy(g) if not isinstance(g, float) else g))
            assert _rel(full, g, w) < 1e-10


def test_the_logit_bound_reads_the_rows_of_l_only_where_the_bound_from_x_fails(rng):
    """‖A1_j X‖ ≤ max ‖A1_j‖ ‖X‖_F answers from X alone; where it fails, the row norms of L = A1 X decide, so
    an X large only along directions A1 never reaches keeps the unshifted exp, and zero A2 divides nothing."""
    n, d = 64, 4
    A1 = np.zeros((n, d))
    A1[:, 0] = 1.0                                     # every row of A1 is e1: L = A1 X reads X's first row only
    A2, A3, B = (rng.standard_normal((n, d)) for _ in range(3))
    problem = Problem(A1, A2, A3, B, blocked=True)
    assert problem.A1_max_row_norm2 == 1.0
    X = np.zeros((d, d))
    X[0] = 0.1
    X[1:] = 1e4                                        # ‖X‖_F far past the limit, L still small
    Xb = problem.as_variable(X, "X")
    L = problem.A1 @ Xb
    assert fusedblocks.logits_bounded(problem, Xb, L)
    X[0] = 1e4                                         # now L itself is large: row maxima
    Xb = problem.as_variable(X, "X")
    assert not fusedblocks.logits_bounded(problem, Xb, problem.A1 @ Xb)
    flat = Problem(A1, np.zeros((n, d)), A3, B, blocked=True)
    assert fusedblocks.logits_bounded(flat, Xb, flat.A1 @ Xb)


@pytest.mark.parametrize("transform", ["autograd", "torch.func"])
def test_torch_autograd_differentiates_the_blocked_forward_pass(transform, rng):
    """Where autograd traces the arrays the torch blocks get fresh arrays (no in-place exp, no scratch memory,
    no host branch on the logits): its gradient of L through the blocked forward pass is the oracle's."""
    torch = pytest.importorskip("torch")
    from solvers.methods.peers import torch_loss

    _, blocked = _pair("torch", 8)
    X, Y = (blocked.as_variable(0.7 * rng.standard_normal((D, D)), name) for name in "XY")
    want = blocked.oracle(X, Y).grad
    if transform == "autograd":
        Xg, Yg = X.clone().requires_grad_(True), Y.clone().requires_grad_(True)
        torch_loss(blocked, Xg, Yg).backward()
        got = (Xg.grad, Yg.grad)
    else:
        got = torch.func.grad(lambda x, y: torch_loss(blocked, x, y), argnums=(0, 1))(X, Y)
    for g, w in zip(got, want):
        assert _rel(blocked, g, w) < 1e-12


def _force_panels(monkeypatch) -> dict[str, list[bool]]:
    """NumPy's panels at this test's small size (16 columns or rows: a block of 37 rows makes 16, 16 and 5) and
    on one BLAS thread, as they are made; the lists say, call by call, whether ``exp_products`` made its products
    in panels (the callers that read no E) and whether ``panel_rows`` had a call's rows run in them (those that
    do): whether the panel rule gave each a width."""
    from solvers.backends import numpy as numpy_backend

    made: dict[str, list[bool]] = {"exp_products": [], "panel_rows": []}
    rule, widths = numpy_backend._panel_width, []

    def width(*args):
        widths.append(rule(*args))
        return widths[-1]

    for name in made:
        kernel = getattr(numpy_backend.NumpyBackend, name)

        def recorded(*args, kernel=kernel, name=name):
            answer = kernel(*args)
            made[name].append(widths[-1] is not None)
            return answer

        monkeypatch.setattr(numpy_backend.NumpyBackend, name, recorded)
    monkeypatch.setattr(numpy_backend, "_panel_width", width)
    monkeypatch.setattr(numpy_backend, "IN_CACHE_BYTES", 0)
    monkeypatch.setattr(numpy_backend, "panel_columns", lambda n, k, m, itemsize: 16)
    monkeypatch.setattr(numpy_backend, "_blas_threads", lambda: 1)
    return made


def _after_loss(product):
    """``product`` at an oracle whose forward pass came from its loss (the log-sum-exp it reuses, panels' or not)."""
    def run(p, X, Y, D):
        point = p.oracle(X, Y)
        assert point.loss >= 0.0
        return product(point, X, D)
    return run


AFTER_LOSS = {"grad-after-loss": _after_loss(lambda o, X, D: o.grad),
              "hvp-after-loss": _after_loss(lambda o, X, D: o.hvp(D, 2.0 * X)),
              "y_step-after-loss": _after_loss(lambda o, X, D: o.least_squares()[1][:2])}  # its logits shifted


#: The oracles whose E nobody reads (their products in ``exp_products``' panels) and those whose blocks read it
#: (their rows in ``panel_rows``' panels), at a fresh point or after a loss.
NO_E_READ = ("loss", "y_step")
E_READ = ("grad", "value_and_grad", "hvp_x", "hvp", "hvp-dY_only", "hvp-shared-forward", "grad-after-loss",
          "hvp-after-loss", "value_and_grad-at-Y(X)")
PANEL_CASES = [(oracle, scale) for scale in (0.7, 400.0) for oracle in (*NO_E_READ, *E_READ, "y_step-after-loss")
               if scale < 1 or oracle != "hvp-after-loss"]  # the panels' log-sum-exp, to rounding, in one-hot rows


@pytest.mark.parametrize("block", [8, 64], ids=["blocks", "one-block"])
@pytest.mark.parametrize(("oracle", "scale"), PANEL_CASES)
def test_numpy_panels_equal_full_s(oracle, scale, block, monkeypatch, rng):
    """Every oracle whose blocks go by panels on NumPy (the softmax products of the forward pass and the Y step
    in ``exp_products``, the gradient's and products' rows in ``panel_rows``) agrees with the full-S kernels, at
    a fresh point and where it reuses a log-sum-exp, logits of order one (unshifted) and of hundreds (shifted
    by their maxima). Logits of hundreds make near one-hot rows, whose gradients cancel to 1e-9 between any two
    orders of summation, so there the reference is the same blocks at once (whose agreement with the full-S
    kernels is tested above)."""
    full, blocked = _pair("numpy", block)
    X, Y, Dir = (scale * rng.standard_normal((D, D)) for _ in range(3))
    assert fusedblocks.operands(blocked, X, Y).bounded == (scale < 1)
    compute = {**ORACLES, **AFTER_LOSS}[oracle]
    want = _flat(compute(full if scale < 1 else blocked, X, Y, Dir))
    made = _force_panels(monkeypatch)
    got = _flat(compute(blocked, X, Y, Dir))
    assert any(made["exp_products"] + made["panel_rows"])
    assert any(made["panel_rows"]) == (oracle not in (*NO_E_READ, "y_step-after-loss"))
    for w, g in zip(want, got):
        assert np.all(np.isfinite(g)) and _rel(full, g, w) < (1e-12 if scale < 1 else 1e-10)


@pytest.mark.parametrize("scale", [0.7, 400.0], ids=["unshifted", "by-maxima"])
@pytest.mark.parametrize("oracle", [*NO_E_READ, "y_step-after-loss"])
def test_numpy_blocks_at_once_in_base_2_equal_full_s(oracle, scale, monkeypatch, rng):
    """Past the cache with panels off (two BLAS threads), NumPy's forward pass and Y step make each block's
    products at once in base 2 (``exp_products``), and agree with the full-S kernels."""
    from solvers.backends import numpy as numpy_backend

    made: list[bool] = []
    kernel = numpy_backend.NumpyBackend.exp_products

    def recorded(*args):
        products = kernel(*args)
        made.append(products is not None)
        return products

    monkeypatch.setattr(numpy_backend.NumpyBackend, "exp_products", recorded)
    monkeypatch.setattr(numpy_backend, "IN_CACHE_BYTES", 0)
    monkeypatch.setattr(numpy_backend, "_blas_threads", lambda: 2)
    full, blocked = _pair("numpy", 8)
    X, Y, Dir = (scale * rng.standard_normal((D, D)) for _ in range(3))
    want, got = (_flat({**ORACLES, **AFTER_LOSS}[oracle](p, X, Y, Dir)) for p in (full, blocked))
    assert made and all(made)
    for w, g in zip(want, got):
        assert np.all(np.isfinite(g)) and _rel(full, g, w) < (1e-12 if scale < 1 else 1e-10)


@pytest.mark.parametrize("panels", [False, True], ids=["at-once", "panels"])
@pytest.mark.parametrize("oracle", ["loss", "grad", "value_and_grad", "hvp_x", "hvp", "y_step"])
def test_one_exp_per_entry_per_call_at_a_fresh_point(oracle, panels, monkeypatch, rng):
    """Each oracle at a fresh point exponentiates every n×n entry once (the forward pass runs inside the
    gradient and the product, and is kept: the loss afterwards costs none), in panels or not."""
    from solvers.backends.numpy import NumpyBackend

    entries = []
    inplace, paneled = NumpyBackend.exp_inplace, NumpyBackend.exp_products
    monkeypatch.setattr(NumpyBackend, "exp_inplace", lambda self, a, shift=None: entries.append(a.size) or
                        inplace(self, a, shift))

    def counted(self, right, left, M_t, by_max):
        made = paneled(self, right, left, M_t, by_max)
        entries.append(0 if made is None else right.shape[0] * left.shape[0])
        return made

    monkeypatch.setattr(NumpyBackend, "exp_products", counted)
    made = _force_panels(monkeypatch) if panels else {}
    _, blocked = _pair("numpy", 8)
    X, Y, Dir = (0.7 * rng.standard_normal((D, D)) for _ in range(3))
    ORACLES[oracle](blocked, X, Y, Dir)
    assert sum(entries) == N * N
    if panels:  # the callers that read no E make their products in panels, the others run their rows in them
        assert all(made["exp_products"]) and bool(made["exp_products"]) == (oracle in NO_E_READ)
        assert all(made["panel_rows"]) and bool(made["panel_rows"]) == (oracle not in NO_E_READ)


def test_a_product_at_a_fresh_point_keeps_its_forward_pass(monkeypatch, rng):
    from solvers.backends.numpy import NumpyBackend

    _, blocked = _pair("numpy", 8)
    X, Y, Dir = (0.7 * rng.standard_normal((D, D)) for _ in range(3))
    point = blocked.oracle(X, Y)
    point.hvp_x(Dir)
    monkeypatch.setattr(NumpyBackend, "exp_inplace", lambda *args: pytest.fail("a second pass over the blocks"))
    assert point.loss > 0


def _directions(problem: Problem, rng) -> list:
    return [problem.as_variable(rng.standard_normal((D, D)), "D") for _ in range(4)]


@pytest.mark.parametrize("block", [8, 64], ids=["blocks", "one-block"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_directional_products_at_one_oracle_agree_with_fresh_ones(backend, block, rng):
    """Products in any order at one oracle (from the second on, a one-block problem's are made from what the
    oracle kept) equal the full-S kernels' at a fresh point, also where a joint product follows one that kept no P."""
    backend, flags = _backend(backend)
    with flags:
        full, blocked = _pair(backend, block)
        X = full.as_variable(0.7 * rng.standard_normal((D, D)), "X")
        A, B, C, E = _directions(full, rng)
        point, step = blocked.oracle(X).least_squares()
        products = [lambda o, Q: o.hvp_x(A), lambda o, Q: o.hvp_x(B), lambda o, Q: o.hvp(A, C),
                    lambda o, Q: o.varpro_gn_product(Q, E), lambda o, Q: o.hvp(None, B), lambda o, Q: o.hvp(C, E),
                    lambda o, Q: o.varpro_gn_product(Q, A)]
        for product in products:
            fresh_point, fresh_step = full.oracle(X).least_squares()  # a fresh point for each product
            for w, g in zip(_flat(product(fresh_point, fresh_step.Q)), _flat(product(point, step.Q))):
                assert _rel(full, g, w) < 1e-12
        assert (point._kept is not None) == (block > N)


@pytest.mark.parametrize("block", [8, 64], ids=["blocks", "one-block"])
def test_a_one_block_oracle_exponentiates_for_its_first_two_products_only(block, monkeypatch, rng):
    """Where the problem is one block, the second directional product keeps the block and the next make no
    ``exp`` (a Gauss–Newton product's two passes share one); with several blocks each pass makes its own."""
    entries = []
    inplace = NumpyBackend.exp_inplace
    monkeypatch.setattr(NumpyBackend, "exp_inplace", lambda self, a, shift=None: entries.append(a.size) or
                        inplace(self, a, shift))
    _, blocked = _pair("numpy", block)
    X = 0.7 * rng.standard_normal((D, D))
    point, step = blocked.oracle(X).least_squares()
    assert point.loss > 0  # the forward pass first: the counts below are the products'
    counts = []
    for product in [lambda: point.varpro_gn_product(step.Q, X), lambda: point.hvp(X, X)] + [lambda: point.hvp_x(X),
                    lambda: point.varpro_gn_product(step.Q, X)] * 2:
        entries.clear()
        product()
        counts.append(sum(entries) // (N * N))
    assert counts == ([1, 1, 0, 0, 0, 0] if block > N else [2, 1, 1, 2, 1, 2])
