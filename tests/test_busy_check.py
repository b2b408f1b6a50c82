"""The busy-machine check's comparison (scripts/busy_check.py): a reversal fails it, a loss of certainty does not."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "busy_check.py"
spec = importlib.util.spec_from_file_location("busy_check", SCRIPT)
busy_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(busy_check)


def _analysis(tight: str, bound: str) -> dict:
    return {"scaling": [{"stage": "forward", "backend": "numpy", "sweep": "n", "fixed": 512, "verdict": tight,
                         "bound": {"verdict": bound}}]}


def test_less_sure_is_allowed_and_a_reversal_is_not():
    flipped, changed = busy_check.reversals(_analysis("holds", "holds"), _analysis("inconclusive", "holds"))
    assert flipped == [] and changed == ["forward (numpy) n at 512, tight: holds -> inconclusive"]
    flipped, _ = busy_check.reversals(_analysis("holds", "holds"), _analysis("holds", "does not hold"))
    assert flipped == ["forward (numpy) n at 512, bound: holds -> does not hold"]


def test_compare_reads_two_report_folders(tmp_path, capsys):
    for name, tight in (("idle", "holds"), ("busy", "does not hold")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "report.md").write_text("## Verdict\n\n1. A sentence.\n\n## Exponents against the claim\n")
        (folder / "analysis.json").write_text(__import__("json").dumps(_analysis(tight, "holds")))
    assert busy_check.main(["--compare", str(tmp_path / "idle"), str(tmp_path / "busy")]) == 1
    out = capsys.readouterr().out
    assert "1. A sentence." in out and "REVERSED: forward (numpy) n at 512, tight" in out
