"""The roofline: each stage's time against the least its work can take on the machine that ran it.

The limit of a call is its classical flop count (docs/maths.md §7) at the backend's measured
square matrix-product rate plus its n×n exponentials (:data:`solvers.harness.claims.EXP_PER_ENTRY`)
at the measured ``exp`` rate, both calibrated in the same run (:func:`solvers.harness.measure.stages.gemm_rate`,
:func:`~solvers.harness.measure.stages.exp_rate`). Limit / time is the fraction of the roofline a
call achieves (1 at the limit); stages without a flop count (solver iterations) have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..claims import EXP_PER_ENTRY
from .costmodel import CostModel


@dataclass
class RooflinePoint:
    """One measured point against its limit: seconds (fastest call) and the limit's two parts."""

    stage: str
    backend: str
    n: int
    d: int
    seconds: float
    gemm_seconds: float
    exp_seconds: float

    @property
    def limit(self) -> float:
        return self.gemm_seconds + self.exp_seconds

    @property
    def fraction(self) -> float:
        """Limit / time: the share of the roofline achieved."""
        return self.limit / self.seconds


def exp_rates(data: dict[str, Any]) -> dict[str, float]:
    """Backend -> measured ``exp`` rate (entries/s), where the run measured it."""
    return {name: entry["exp_per_s"] for name, entry in data.get("gemm", {}).items()
            if entry.get("status") == "ok" and entry.get("exp_per_s")}


def roofline_points(records: list[dict[str, Any]], gemm: dict[str, float],
                    exp: dict[str, float]) -> list[RooflinePoint]:
    """Every measured point with a flop count on a backend whose rates were measured."""
    out = []
    for r in records:
        backend = r["backend"]
        if r["status"] != "ok" or not r.get("flops") or backend not in gemm or backend not in exp:
            continue
        exps = EXP_PER_ENTRY.get(r["stage"], 0) * r["n"] ** 2
        out.append(RooflinePoint(r["stage"], backend, r["n"], r["d"], r.get("min") or r["median"],
                                 r["flops"] / gemm[backend], exps / exp[backend]))
    return out


def best_roofline(points: list[RooflinePoint], stage: str, backend: str) -> RooflinePoint | None:
    """The point of ``stage`` on ``backend`` closest to its limit."""
    mine = [p for p in points if (p.stage, p.backend) == (stage, backend)]
    return max(mine, key=lambda p: p.fraction) if mine else None


def exp_pricing(models: list[CostModel], exp: dict[str, float], stage: str = "forward") -> list[tuple[str, float]]:
    """(backend, n² coefficient of ``stage``'s cost model / measured seconds per exp) for every usable model."""
    out = []
    for model in models:
        if model.stage == stage and model.backend in exp and "n²" in model.terms and model.usable:
            out.append((model.backend, model.coefficients[model.terms.index("n²")] * exp[model.backend]))
    return out
