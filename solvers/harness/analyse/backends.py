"""Backends side by side: each backend's time per stage and size over the reference backend's.

The reference is NumPy where the record has it, else the first backend measured (the gpu
grid's torch-cuda, against which CuPy is then compared).

Each point both backends measured gives a ratio of the times the fits read (the fastest call,
:func:`solvers.harness.analyse.disturbance.fit_time`: other jobs, and on torch the first calls'
page faults, only ever slow a call down), other / reference (below 1: the other backend is
faster), and the ratio of the medians with its spread from the interquartile ranges: the
lowest ratio the two ranges allow (other's first quartile over the reference's third) and the
highest (other's third over the reference's first). The sentence the report and the README quote is computed
here from those ratios.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .disturbance import disturbed, fit_time

#: The backend every other is compared with, where it was measured.
REFERENCE = "numpy"
#: A backend keeps up with the reference at a point where its time is at most this factor of it.
PAR = 1.1
#: Points named in the sentence where a backend is slower than :data:`PAR` (the rest are counted).
NAMED_SLOWEST = 3


@dataclass(frozen=True)
class BackendRatio:
    """One (stage, n, d) that the reference and ``backend`` both measured.

    ``reference_time`` and ``time`` are the fastest calls (seconds); ``ratio`` = time / reference_time;
    ``median_ratio`` is the ratio of the medians, and ``low`` and ``high`` bound it by the two
    interquartile ranges; ``sweeps`` are the point's sweeps; ``disturbed``: either measurement was
    marked disturbed.
    """

    stage: str
    n: int
    d: int
    backend: str
    reference_time: float
    time: float
    ratio: float
    median_ratio: float
    low: float
    high: float
    sweeps: tuple[str, ...]
    disturbed: bool


@dataclass(frozen=True)
class BackendComparison:
    """Every :class:`BackendRatio` of a record, and the reference they are taken against."""

    reference: str
    ratios: list[BackendRatio]

    @property
    def backends(self) -> list[str]:
        """The backends compared with the reference, in the order measured."""
        return list(dict.fromkeys(r.backend for r in self.ratios))

    def sentences(self) -> list[str]:
        """One sentence per backend: the range and median of its ratios, and where it fell behind (over the
        points neither of whose timings was disturbed: a disturbed call is slow for reasons of its own)."""
        out = []
        for backend in self.backends:
            every = [r for r in self.ratios if r.backend == backend]
            mine = [r for r in every if not r.disturbed]
            left_out = len(every) - len(mine)
            if not mine:
                out.append(f"{backend}: all {left_out} sizes of {len({r.stage for r in every})} stage(s) both "
                           "measured were disturbed; no ratio is given.")
                continue
            stages = len({r.stage for r in mine})
            ratios = [r.ratio for r in mine]
            slow = sorted((r for r in mine if r.ratio > PAR), key=lambda r: -r.ratio)
            spread = f"{min(ratios):.2f}–{max(ratios):.2f}×" if len(ratios) > 1 else f"{ratios[0]:.2f}×"
            text = (f"{backend} took {spread} {self.reference}'s time (median "
                    f"{float(np.median(ratios)):.2f}×) over the {len(mine)} sizes of {stages} stage(s) both measured"
                    + (f" undisturbed ({left_out} disturbed left out)" if left_out else ""))
            if not slow:
                text += f", within {PAR:g}× everywhere."
            else:
                named = ", ".join(f"{r.stage} at n = {r.n}, d = {r.d} ({r.ratio:.2f}×)" for r in slow[:NAMED_SLOWEST])
                more = f" and {len(slow) - NAMED_SLOWEST} more" if len(slow) > NAMED_SLOWEST else ""
                text += f"; more than {PAR:g}× at {len(slow)}: {named}{more}."
            out.append(text)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``analysis.json``)."""
        return {"reference": self.reference, "par": PAR, "sentences": self.sentences(),
                "ratios": [asdict(r) for r in self.ratios]}


def compare_backends(records: list[dict[str, Any]], reference: str | None = None) -> BackendComparison | None:
    """The ratios of every other backend to ``reference`` where both timed a stage at a size; ``None`` without any.

    ``reference`` defaults to :data:`REFERENCE` where it has a measured point, else to the first
    backend that has one.
    """
    ok = [r for r in records if r["status"] == "ok" and r.get("median", 0) > 0]
    measured = list(dict.fromkeys(r["backend"] for r in ok))
    if reference is None:
        reference = REFERENCE if REFERENCE in measured or not measured else measured[0]
    base = {(r["stage"], r["n"], r["d"]): r for r in ok if r["backend"] == reference}
    ratios = []
    for r in ok:
        ref = base.get((r["stage"], r["n"], r["d"]))
        if r["backend"] == reference or ref is None:
            continue
        quartiles = [x.get(key, x["median"]) for x in (r, ref) for key in ("q25", "q75")]
        ratios.append(BackendRatio(
            stage=r["stage"], n=r["n"], d=r["d"], backend=r["backend"], reference_time=fit_time(ref),
            time=fit_time(r), ratio=fit_time(r) / fit_time(ref), median_ratio=r["median"] / ref["median"],
            low=quartiles[0] / quartiles[3],
            high=quartiles[1] / quartiles[2], sweeps=tuple(r.get("sweeps", ())),
            disturbed=disturbed(r) or disturbed(ref)))
    return BackendComparison(reference, ratios) if ratios else None
