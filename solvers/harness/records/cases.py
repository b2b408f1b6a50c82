"""The benchmark matrix's cases: problem kind × noise × start × size × seed, and each case's target.

This module says what a case is (every stage reads it); building its problem and start is
measuring's (:mod:`solvers.harness.measure.cases`).

A :class:`Case` names one problem and one start; everything a method is given follows from it
deterministically (``Problem.planted``/``Problem.random`` from the seed, docs/maths.md §1; the
start from :data:`~solvers.problem.START_SEED`; Y the exact least-squares step at the start,
computed once and handed to every method).

Problems: ``planted`` (min L = 0), ``planted`` with noise of 1 % or 10 % of ‖B‖_F added
(:meth:`Problem.planted` ``noise``), and ``random`` (B with N(0, 1) entries). Starts:
``near-σ`` = X* + σ·G for σ ∈ {0.5, 1.5, 3} (where X* exists: planted, noisy or not), ``zero``
(X = 0, the cold start: P = S A3 is rank one there, docs/maths.md §3) and ``small``
(X = 0.01·G, a small random initialisation: logits of size 0.005 against the planted 0.5),
G standard normal from ``default_rng(START_SEED)``.

Targets: L ≤ 1e-10 where min L = 0 (noise-free planted); elsewhere methods end in different
local minima, so "loss ≤ ε" means nothing and the target is stationarity, ‖∇L‖/‖∇L(start)‖ ≤
1e-8 (scale-free: the same for every n, d and ‖B‖; 300× above float64's reachable
eps^(2/3) ≈ 3.7e-11, so every second-order method can meet it, and 1e-8 of the starting
gradient is far below any step that changes the fit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: Loss target where min L = 0, and the relative-gradient target elsewhere.
LOSS_TARGET = 1e-10
GRADIENT_TARGET = 1e-8
#: Noise levels of the noisy planted problems, as fractions of ‖B‖_F.
NOISE_LEVELS = (0.01, 0.1)
#: σ of the starts X* + σ·G.
NEAR_SIGMAS = (0.5, 1.5, 3.0)
#: Scale of the small random initialisation X = SMALL·G.
SMALL = 0.01
#: Every kind of problem, and every start (``near-*`` only where X* exists).
KINDS = ("planted", "noisy-1%", "noisy-10%", "random")
STARTS = (*(f"near-{sigma:g}" for sigma in NEAR_SIGMAS), "zero", "small")


@dataclass(frozen=True, order=True)
class Case:
    """One problem and one start of the matrix.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    start : str
        One of :data:`STARTS`.
    n, d, seed : int
        Size and the problem's seed.
    """

    kind: str
    start: str
    n: int
    d: int
    seed: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown problem kind {self.kind!r}; choose from {', '.join(KINDS)}")
        if self.start not in STARTS:
            raise ValueError(f"unknown start {self.start!r}; choose from {', '.join(STARTS)}")
        if self.kind == "random" and self.start.startswith("near"):
            raise ValueError(f"a random problem has no X*: start {self.start!r} needs a planted kind")

    @property
    def key(self) -> str:
        """The case's label, unique in a matrix: ``kind/start/NxD/seed``."""
        return f"{self.kind}/{self.start}/{self.n}x{self.d}/{self.seed}"

    @property
    def noise(self) -> float:
        """Noise added to B, as a fraction of ‖B‖_F (0 for planted and random)."""
        return {"noisy-1%": 0.01, "noisy-10%": 0.1}.get(self.kind, 0.0)

    @property
    def target(self) -> tuple[str, float]:
        """``("loss", 1e-10)`` where min L = 0, else ``("stationary", 1e-8)`` (module docstring)."""
        return ("loss", LOSS_TARGET) if self.kind == "planted" else ("stationary", GRADIENT_TARGET)

    def fields(self) -> dict[str, Any]:
        """The case as record fields (with its key, noise and target)."""
        kind, value = self.target
        return {**asdict(self), "case": self.key, "noise": self.noise, "target": kind, "target_value": value}


def starts_for(kind: str, starts: Iterable[str] = STARTS) -> list[str]:
    """The starts of ``starts`` that ``kind`` has (no ``near-*`` without X*)."""
    return [start for start in starts if not (kind == "random" and start.startswith("near"))]


def matrix_cases(sizes: Sequence[tuple[int, int]], seeds: Sequence[int], kinds: Sequence[str] = KINDS,
                 starts: Sequence[str] = STARTS) -> list[Case]:
    """Every case of kinds × starts × sizes × seeds (random problems without the ``near-*`` starts),
    size by size, the smallest first."""
    return [Case(kind, start, n, d, seed) for n, d in sizes for seed in seeds for kind in kinds
            for start in starts_for(kind, starts)]


def case_from_key(key: str) -> Case:
    """The :class:`Case` a label ``kind/start/NxD/seed`` names (:attr:`Case.key`, as the matrix report prints it).

    Raises
    ------
    ValueError
        ``key`` is not such a label, or names an unknown kind or start.
    """
    parts = key.split("/")
    size = parts[2].lower().split("x") if len(parts) == 4 else []
    if len(size) != 2 or not all(part.isdigit() for part in (*size, parts[3])) or min(map(int, size)) < 1:
        raise ValueError(f"{key!r} is not a case of the matrix: write kind/start/NxD/seed, e.g. planted/zero/128x16/3")
    return Case(parts[0], parts[1], int(size[0]), int(size[1]), int(parts[3]))


def case_from_fields(record: dict[str, Any]) -> Case:
    """The :class:`Case` a record names; an old race entry (no ``kind``) is planted from ``near-0.5``."""
    return Case(record.get("kind", "planted"), record.get("start", "near-0.5"), int(record["n"]), int(record["d"]),
                int(record["seed"]))
