"""Which stage points make up a sweep: the wide-d sweep (T_mat(n,d,d)) holds only sizes with d > n,
whether the points carry sweep tags (``attnreg reproduce``) or not (asv results)."""

from __future__ import annotations

from pathlib import Path

from solvers.harness.analyse import analysis, summary
from solvers.harness.measure.asv_import import measurements_from_asv

ASV_RESULTS = Path(__file__).resolve().parents[1] / "reports" / "asv-results"


def _product(n: int, d: int) -> float:
    """A product stage obeying the claim: n²d + nd² with no other work."""
    return 1e-10 * (n * n * d + n * d * d)


def _untagged(sizes: list[tuple[int, int]]) -> list[dict]:
    """``forward`` points as asv results give them: no sweep tags."""
    return [{"stage": "forward", "backend": "numpy", "n": n, "d": d, "status": "ok", "median": _product(n, d),
             "flops": None} for n, d in sizes]


def test_untagged_points_with_d_below_n_make_no_wide_d_sweep():
    """The audit's asv import: d = 8…512 at n = 1024 is the n ≫ d sweep, never "d > n"."""
    records = _untagged([(n, 32) for n in (256, 512, 1024, 2048, 4096)] + [(1024, d) for d in (8, 16, 64, 128, 256, 512)])
    assert analysis.sweep_records(records, "forward", "numpy", "wide_d") == []
    assert [r["d"] for r in analysis.sweep_records(records, "forward", "numpy", "d")] == [8, 16, 32, 64, 128, 256, 512]
    result = analysis.analyse({"points": records})
    assert {r.sweep for r in result.scaling} == {"n", "d"}
    second = summary.sentences(result)[1]
    assert second.startswith("Against d (n = 1024)") and "d > n" not in second


def test_the_wide_d_sweep_keeps_only_the_sizes_with_d_above_n():
    wide = [(32, d) for d in (64, 128, 256, 512, 1024)]
    records = _untagged([(32, d) for d in (4, 8, 16, 32)] + wide)
    assert [(r["n"], r["d"]) for r in analysis.sweep_records(records, "forward", "numpy", "wide_d")] == wide
    result = analysis.analyse({"points": records})
    (along,) = [r for r in result.scaling if r.sweep == "wide_d"]
    assert along.fixed == 32 and all(p["d"] > p["n"] for p in along.points)
    assert "with d > n (n = 32) it implies d^2 (T_mat(n,d,d)): of 1 fits" in summary.sentences(result)[1]


def test_a_point_tagged_wide_d_with_d_not_above_n_is_left_out():
    tagged = [{**r, "sweeps": ["wide_d"]} for r in _untagged([(32, d) for d in (16, 32, 64, 128, 256)])]
    assert [r["d"] for r in analysis.sweep_records(tagged, "forward", "numpy", "wide_d", 32)] == [64, 128, 256]
    assert analysis.fixed_sizes(tagged[:2], "forward", "numpy", "wide_d") == [None]


def test_the_committed_asv_results_state_no_d_above_n():
    data = measurements_from_asv(ASV_RESULTS)
    assert not any(p["d"] > p["n"] for p in data["points"])    # what the audit found: no point with d > n
    result = analysis.analyse(data)
    assert not [r for r in result.scaling if r.sweep == "wide_d"]
    assert "d > n" not in " ".join(summary.sentences(result))
