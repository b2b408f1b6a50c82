"""Size grids for the asv suites and the reproduction run.

Chosen by name (``quick``, ``full``, ``gpu``, ``long``); the asv suites read the environment
variable ``ATTNREG_GRID`` (default ``quick``). ``long`` sweeps the sequence length up to
n = 65536 at d = 64, where the oracles run row-blocked (:mod:`solvers.rowblocks`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

GRID_ENV = "ATTNREG_GRID"


@dataclass(frozen=True)
class Grid:
    """Sizes for each sweep.

    Attributes
    ----------
    n_sweep, d_for_n : sizes of the n-sweep (time against n at fixed d)
    d_sweep, n_for_d : sizes of the d-sweep (time against d at fixed n), product stages
    solve_d_sweep, n_for_solve : d-sweep of the d²×d² stages (Hessian assembly and solve,
        solver iterations) at fixed n
    convergence_sizes : (n, d) planted problems for iterations-to-ε
    backends : default backends
    memory_limit : bytes a single stage may use (larger sizes are skipped as n/a)
    cross_n_sweep, d_for_cross : n-sweeps at each of these d that cross n = d² (the Hessian
        assembly and one iteration of the paper's method: where the terms the claim does
        not name, n²d² and n·d⁴, take over from d^{2ω})
    study_sizes, study_seeds : (n, d) planted problems and seeds of the convergence study
        (the paper's method and the Newton-type methods across sizes)
    plane_n, plane_d : the product stages also run at every (n, d) of these, so that their
        cost models rest on a 2-D grid, not only on the two sweeps' cross
    wide_d_sweep, n_for_wide : d-sweep of the product stages at a fixed n < d, where
        T_mat(n,d,d) (nd²) is the product that sets the time
    sparsification : whether the reproduction also runs the attention-sparsification study
    stages : the stages the grid times (empty: every stage)
    optional_backends : backends of ``backends`` that run only where they are installed
        (:meth:`default_backends`); elsewhere they are left out rather than recorded as skipped
    backend_stages : (backend, stages) pairs: a backend listed here times only those of the
        grid's stages (the others run them all) and no solver or sparsification run
    reasons : why each sweep sits where it does (sweep -> sentence), shown in the report
    """

    name: str
    n_sweep: tuple[int, ...]
    d_for_n: int
    d_sweep: tuple[int, ...]
    n_for_d: int
    solve_d_sweep: tuple[int, ...]
    n_for_solve: int
    convergence_sizes: tuple[tuple[int, int], ...]
    backends: tuple[str, ...]
    memory_limit: float
    cross_n_sweep: tuple[int, ...] = ()
    d_for_cross: tuple[int, ...] = ()
    study_sizes: tuple[tuple[int, int], ...] = ()
    study_seeds: tuple[int, ...] = ()
    plane_n: tuple[int, ...] = ()
    plane_d: tuple[int, ...] = ()
    wide_d_sweep: tuple[int, ...] = ()
    n_for_wide: int = 0
    sparsification: bool = True
    stages: tuple[str, ...] = ()
    optional_backends: tuple[str, ...] = ()
    backend_stages: tuple[tuple[str, tuple[str, ...]], ...] = ()
    reasons: tuple[tuple[str, str], ...] = ()

    def default_backends(self) -> tuple[str, ...]:
        """The backends a run of this grid uses unless told otherwise: ``backends``, less the optional
        ones that cannot run here."""
        from ...backends import backend_unavailable_reason

        return tuple(name for name in self.backends
                     if name not in self.optional_backends or backend_unavailable_reason(name) is None)

    def times(self, backend: str, stage: str) -> bool:
        """Whether this grid times ``stage`` on ``backend`` (its stages, and the backend's own subset)."""
        subset = dict(self.backend_stages).get(backend)
        return (not self.stages or stage in self.stages) and (subset is None or stage in subset)

    def points(self, sweep: str) -> list[tuple[int, int]]:
        """The (n, d) pairs of sweep ``"n"``, ``"d"``, ``"solve_d"``, ``"cross_n"``, ``"plane"`` or ``"wide_d"`` (n, then d, increasing)."""
        if sweep == "n":
            return [(n, self.d_for_n) for n in self.n_sweep]
        if sweep == "d":
            return [(self.n_for_d, d) for d in self.d_sweep]
        if sweep == "solve_d":
            return [(self.n_for_solve, d) for d in self.solve_d_sweep]
        if sweep == "cross_n":
            return [(n, d) for n in self.cross_n_sweep for d in self.d_for_cross]
        if sweep == "plane":
            return [(n, d) for n in self.plane_n for d in self.plane_d]
        if sweep == "wide_d":
            return [(self.n_for_wide, d) for d in self.wide_d_sweep]
        raise ValueError(f"unknown sweep {sweep!r}")


#: The convergence study's planted sizes: three values of n at d = 8 and three of d at n = 128,
#: all timed by the stage sweeps (so per-iteration time × iterations can be checked).
STUDY_SIZES = ((64, 8), (128, 8), (256, 8), (128, 12), (128, 16))

#: Why the decisive sweeps sit where they do (from the cost models of reports/vm: forward
#: 5.1e-11·n²d + 6.0e-9·n², hvp 1.6e-10·n²d + 2.9e-8·n², gradient 1.2e-10·n²d + 1.7e-11·nd² + 1.3e-8·n²,
#: the solve 7.0e-12·d⁶ + 4.6e-9·d⁴,
#: one iteration of the paper's method 3.0e-11·d⁶ + 1.4e-10·n·d⁴ + … seconds).
DECISIVE_REASONS = (
    ("n", "n²d against n: the n² elementwise work costs as much as n²d at d ≈ 120 (forward) to 180 (hvp), and the "
          "nd² products are d/2n of n²d by their flop counts, so at d = 768 n²d holds ≈ 75 % of the forward pass "
          "from n ≈ 2900 and more beyond (87 % by the quick model, which could not resolve nd²)"),
    ("d", "n²d against d: from d ≈ 350 the n²d products outweigh the n² work threefold, and at n = 4096 the nd² "
          "products (d/2n of n²d by their flop counts) stay below a fifth of it up to d = 1536"),
    ("wide_d", "nd² against d with d > n: at n = 32 the nd² products are d/2n ≥ 8 times n²d by their flop counts "
               "from d = 512, and ≥ 75 % of the gradient's modelled time from d ≈ 700"),
    ("solve_d", "d^{2ω} against d: the d²×d² Cholesky's d⁶ passes 75 % of the solve's time at d ≈ 45; one iteration "
                "of the paper's method also assembles the Hessian (n·d⁴) and shifts it (d⁴): measured at n = 160, 0.48 s "
                "of 7.3 s at d = 112 besides the 6.8 s solve, so d⁶ holds ≥ 75 % from d ≈ 52 (3.4e-12·d⁶ against "
                "1.9e-11·n·d⁴). n = 160 > d keeps the Y step an over-determined least-squares problem (at n = 64 ≤ d it "
                "fits B exactly, the X step has nothing left to decrease, and an iteration's time hung on rounding: "
                "8.6 s or 204 s at d = 112). d ≤ 112 keeps every system within one LAPACK factorisation (N ≤ 14 000): "
                "above it the 2×2-block Cholesky that works around OpenBLAS's threaded potrf crash costs about 20 % more "
                "per flop, a kink that read as d^7.5 from d = 112 to 128 and made the d = 80 … 144 fit inconclusive. From d = 48: at d = 32 "
                "an iteration (33 ms, 9 ms of it the solve) is the Y step's and the oracles' fixed costs, which no term "
                "describes, and the cost models' relative least squares weighed it like a 7 s point (d⁶ 75 % only at "
                "d = 112 with it, from d = 80 without); every 4 in between, for a tighter interval"),
)

#: What the decisive sweeps time: the product stages, the d²×d² solve and one iteration of the paper's
#: method (the joint methods' 2d²×2d² iterations, 8× the solve, would double the run and settle nothing new).
DECISIVE_STAGES = ("forward", "gradient", "y_solve", "hvp", "hessian_solve", "iteration:alternating")

#: The gpu grid's sweeps, placed by the same CPU cost models (no GPU report exists yet to fit its own).
GPU_REASONS = (
    ("n", "n²d against n at d = 512, where the CPU cost models give n²d ≥ 75 % of the product stages' time"),
    ("d", "n²d against d at n = 8192 up to d = 2048 (nd² stays below d/2n = 1/8 of n²d by the flop counts)"),
    ("wide_d", "nd² against d at n = 256 from d = 1024 (nd² ≥ 2 times n²d by the flop counts, more at larger d)"),
    ("solve_d", "d^{2ω} against d at n = 256 up to d = 240 (a 57600² Hessian): d⁶ dominates the solve from d ≈ 45 and "
                "the iteration from d ≈ 35 by the CPU models"),
)

#: The stages the quick grid also times on torch (CPU): the four oracles that every method is made of,
#: where the backends differ in how the shared code drives them (n×n elementwise passes, fused
#: kernels, threads). The d²×d² stages are one LAPACK call each (MKL against OpenBLAS rather than
#: this project's code) and the iterations are made of the same oracles; on torch they would add
#: about 90 s to the quick run (by the NumPy times of reports/vm).
BACKEND_STAGES = ("forward", "gradient", "y_solve", "hvp")

GRIDS: dict[str, Grid] = {grid.name: grid for grid in (
    Grid("quick", n_sweep=(256, 512, 1024, 2048, 4096, 8192), d_for_n=32,
         d_sweep=(8, 16, 32, 64, 128, 256, 512), n_for_d=1024,
         solve_d_sweep=(8, 12, 16, 24, 32, 48, 64), n_for_solve=128,
         convergence_sizes=((128, 16),), backends=("numpy", "torch"), memory_limit=8 * 2**30,
         cross_n_sweep=(64, 128, 256, 512, 1024, 2048, 4096), d_for_cross=(8, 16),
         study_sizes=STUDY_SIZES, study_seeds=(0, 1, 2), plane_n=(512, 2048), plane_d=(8, 64, 256),
         optional_backends=("torch",), backend_stages=(("torch", BACKEND_STAGES),)),
    Grid("full", n_sweep=(256, 512, 1024, 2048, 4096, 8192), d_for_n=64,
         d_sweep=(8, 16, 32, 64, 128, 256), n_for_d=2048,
         solve_d_sweep=(8, 12, 16, 24, 32, 48, 64, 80), n_for_solve=256,
         convergence_sizes=((128, 16), (256, 24)), backends=("numpy", "torch"), memory_limit=12 * 2**30,
         cross_n_sweep=(64, 128, 256, 512, 1024, 2048, 4096, 8192), d_for_cross=(8, 16, 24),
         study_sizes=STUDY_SIZES, study_seeds=(0, 1, 2, 3, 4), plane_n=(512, 4096), plane_d=(8, 64, 256)),
    # The decisive sweeps: each term the claim names measured where the cost models of the quick
    # report (reports/vm) give it at least 75 % of the modelled time, at four sizes or more.
    Grid("decisive", n_sweep=(2048, 2896, 3444, 4096, 4871, 5792, 6889, 8192), d_for_n=768,
         d_sweep=(384, 512, 640, 768, 1024, 1280, 1536), n_for_d=4096,
         solve_d_sweep=(48, 56, 64, 72, 76, 80, 84, 88, 92, 96, 100, 104, 108, 112), n_for_solve=160,
         convergence_sizes=(), backends=("numpy",), memory_limit=16 * 2**30,
         plane_n=(1024, 4096), plane_d=(32, 128), wide_d_sweep=(512, 724, 1024, 1448, 2048, 2896, 4096), n_for_wide=32,
         sparsification=False, stages=DECISIVE_STAGES, reasons=DECISIVE_REASONS),
    Grid("gpu", n_sweep=(1024, 2048, 4096, 8192, 16384), d_for_n=512,
         d_sweep=(16, 32, 64, 128, 256, 512, 1024, 2048), n_for_d=8192,
         solve_d_sweep=(16, 32, 48, 64, 96, 128, 160, 200, 240), n_for_solve=256,
         convergence_sizes=((128, 16), (1024, 64)), backends=("torch-cuda", "cupy"), memory_limit=100 * 2**30,
         plane_n=(1024, 8192), plane_d=(32, 128), wide_d_sweep=(1024, 2048, 4096, 8192, 16384), n_for_wide=256,
         reasons=GPU_REASONS),
    # The stages' memory estimates are those of the full-S path; row-blocked oracles stay within the
    # Problem's memory budget instead, so no size of this grid is skipped for its estimate.
    Grid("long", n_sweep=(4096, 8192, 16384, 32768, 65536), d_for_n=64,
         d_sweep=(16, 32, 64), n_for_d=16384,
         solve_d_sweep=(8, 16), n_for_solve=16384,
         convergence_sizes=((4096, 32),), backends=("numpy",), memory_limit=float(2**50)),
)}


def get_grid(name: str | None = None) -> Grid:
    """Grid ``name``, or the one named by ``$ATTNREG_GRID`` (default ``quick``)."""
    name = name or os.environ.get(GRID_ENV, "quick")
    try:
        return GRIDS[name]
    except KeyError:
        raise ValueError(f"unknown grid {name!r}; choose one of {', '.join(GRIDS)} (set {GRID_ENV})") from None


def markdown_table(grids: dict[str, Grid] | None = None) -> str:
    """The grids as the README's table (a test keeps the README's copy equal to this)."""
    def span(values: tuple[int, ...], fixed: int) -> str:
        return f"{values[0]} … {values[-1]} ({fixed})"

    def backends(grid: Grid) -> str:
        def label(name: str) -> str:
            subset = dict(grid.backend_stages).get(name)
            notes = ["if installed"] * (name in grid.optional_backends) + (
                [] if subset is None else ["product stages" if subset == BACKEND_STAGES else ", ".join(subset)])
            return name + (f" ({', '.join(notes)})" if notes else "")

        return ", ".join(map(label, grid.backends))

    rows = ["| grid | backends | n sweep (d) | d sweep (n) | d > n: d (n) | d²×d² stages: d (n) | convergence (n, d) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for grid in (grids or GRIDS).values():
        rows.append(f"| `{grid.name}` | {backends(grid)} | {span(grid.n_sweep, grid.d_for_n)} | "
                    f"{span(grid.d_sweep, grid.n_for_d)} | "
                    f"{span(grid.wide_d_sweep, grid.n_for_wide) if grid.wide_d_sweep else '–'} | "
                    f"{span(grid.solve_d_sweep, grid.n_for_solve)} | "
                    + (", ".join(f"({n}, {d})" for n, d in grid.convergence_sizes) or "–") + " |")
    return "\n".join(rows)
