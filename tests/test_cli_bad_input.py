"""Bad input a person types gets one clear message and exit status 2, before any work and without a traceback."""

from __future__ import annotations

import pytest

from solvers.backends import backend_unavailable_reason
from solvers.cli import main

NO_GPU = backend_unavailable_reason("torch-cuda") is not None
NO_CUPY = backend_unavailable_reason("cupy") is not None

BAD = [  # (argv, a fragment the message must contain)
    (["solve", "--n", "0"], "--n"),
    (["solve", "--d", "0"], "--d"),
    (["solve", "--n", "-5"], "--n"),
    (["solve", "--n", "ten"], "not an integer"),
    (["solve", "--d", "2.5"], "not an integer"),
    (["solve", "--max-iter", "-3"], "--max-iter"),
    (["solve", "--max-iter", "2.5"], "--max-iter"),
    (["solve", "--eps", "-1"], "--eps"),
    (["solve", "--eps", "nan"], "not a finite number"),
    (["solve", "--max-time", "-5"], "--max-time"),
    (["solve", "--max-time", "0"], "--max-time"),
    (["solve", "--seed", "-1"], "--seed"),
    (["solve", "--start-noise", "-0.5"], "--start-noise"),
    (["solve", "--start-seed", "-2"], "--start-seed"),
    (["solve", "--method", "nope"], "invalid choice"),
    (["solve", "--backend", "tpu"], "invalid choice"),
    (["solve", "--dtype", "float16"], "invalid choice"),
    (["solve", "--kind", "random", "--start-noise", "0.5"], "planted"),
    (["solve", "--case", "planted/zero/128x16"], "kind/start/NxD/seed"),
    (["solve", "--case", "planted/zero/0x16/1"], "kind/start/NxD/seed"),
    (["solve", "--case", "planted/cold/128x16/1"], "unknown start"),
    (["solve", "--case", "random/near-1.5/128x16/1"], "no X*"),
    (["solve", "--case", "planted/zero/24x3/1", "--n", "64"], "--n"),
    (["compare", "--case", "planted/zero/24x3/1", "--eps", "1e-3"], "--eps"),
    (["compare", "--race", "--case", "planted/zero/24x3/1"], "--case"),
    (["compare", "--methods", "nope"], "unknown method"),
    (["compare", "--methods", ","], "unknown method"),
    (["compare", "--json", "/nonexistent-folder/runs.json"], "does not exist"),
    (["compare", "--plot", "/nonexistent-folder/conv.png"], "does not exist"),
    (["compare", "--json", "."], "is a folder"),
    (["sparsify", "--r", "-1"], "--r"),
    (["sparsify", "--seeds", "0"], "--seeds"),
    (["sparsify", "--n", "0"], "--n"),
    (["sparsify", "--m", "0"], "--m"),
    (["sparsify", "--n", "1"], "--n must be at least 2"),
    (["sparsify", "--r", "1e-300"], "--r 1e-300 is below 1e-12"),
    (["sparsify", "--d", "512", "--m", "100000"], "--m 100000 > --d 512"),
    (["sparsify", "--n", "64", "--d", "100000000000"], "GiB of host memory"),
    (["env", "--tf32"], "--tf32 applies to --backend torch-cuda only"),
    (["compare", "--race", "--max-iter", "1", "--backend", "torch"], "--race does not use --backend, --max-iter"),
    (["compare", "--matrix", "--eps", "1e-3", "--json", "m.json"], "--matrix does not use --eps"),
    (["compare", "--matrix", "--quick", "--sizes", "32x4", "--json", "m.json"], "--quick is a fixed set of cases"),
    (["compare", "--n", "32", "--sizes", "32x4"], "a plain comparison does not use --sizes"),
    (["compare", "--race", "--matrix"], "--race and --matrix are different runs"),
    (["solve", "--memory-budget", "1e300"], "--memory-budget"),
    (["sparsify", "--method", "bss", "--n", "8", "--d", "64", "--m", "4"], "bss needs more than n"),
    (["reproduce", "--threads", "0"], "--threads"),
    (["reproduce", "--min-fit-ms", "-1"], "--min-fit-ms"),
    (["reproduce", "--grid", "huge"], "invalid choice"),
    (["report", "--out", "/nonexistent-folder/report"], "attnreg reproduce"),
    (["env", "--backend", "tpu"], "invalid choice"),
]
if NO_GPU:
    BAD += [(["env", "--backend", "torch-cuda"], "torch-cuda"),
            (["reproduce", "--backend", "torch-cuda", "--no-progress"], "nothing can be measured")]
if NO_CUPY:
    BAD += [(["solve", "--backend", "cupy"], "cupy")]


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own exit
        return int(exc.code)


@pytest.mark.parametrize(("argv", "fragment"), BAD, ids=[" ".join(argv) for argv, _ in BAD])
def test_bad_input_exits_2_with_a_clear_message(argv, fragment, capsys, monkeypatch):
    import solvers.loop

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(solvers.loop.IterativeSolver, "solve", no_work)
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip() and not line.startswith(("usage:", " "))]) == 1


def test_at_least_25_bad_inputs_are_covered():
    assert len(BAD) >= 25


def test_a_measurements_file_that_is_a_folder_or_hand_edited_gets_one_line(tmp_path, capsys):
    import json
    from pathlib import Path

    folder = tmp_path / "folder"
    (folder / "measurements.json").mkdir(parents=True)
    assert main(["report", "--out", str(folder)]) == 2
    assert "Is a directory" in capsys.readouterr().err
    assert main(["reproduce", "--out", str(folder)]) == 2
    assert "exists and is not a file" in capsys.readouterr().err
    edited = tmp_path / "edited"
    edited.mkdir()
    source = Path(__file__).resolve().parents[1] / "reports" / "vm" / "measurements.json"
    data = json.loads(source.read_text())
    data["points"][3]["median"] = "fast"
    (edited / "measurements.json").write_text(json.dumps(data))
    assert main(["report", "--out", str(edited)]) == 2
    assert "point 3 (" in (err := capsys.readouterr().err) and "'median' must be a number ≥ 0, got 'fast'" in err


def test_a_hand_edited_matrix_file_gets_one_line(tmp_path, capsys):
    """A negative wall time would count as the fastest solve, a missing method as a KeyError: both refused."""
    import json
    from pathlib import Path

    source = Path(__file__).resolve().parents[1] / "reports" / "vm" / "race" / "matrix.json"
    for edit, says in ((lambda e: e.update(wall=-1.0), "entry 0 (planted/near-0.5/128x16/0 varpro): 'wall' must be "
                        "a number ≥ 0, got -1.0"), (lambda e: e.pop("method"), "'method' must be str, got None")):
        data = json.loads(source.read_text())
        edit(data["race"][0])
        path = tmp_path / "edited.json"
        path.write_text(json.dumps(data))
        assert main(["compare", "--report", str(path), "--out", str(tmp_path / "out")]) == 2
        assert says in capsys.readouterr().err
