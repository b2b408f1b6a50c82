"""The README's Python example runs verbatim, and its Layout section names the modules that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from solvers import STATUSES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_python_api_example_runs_verbatim():
    example = re.search(r"## Python API\n\n```python\n(.*?)```", README, re.S)
    assert example is not None, "README has no Python API example"
    namespace: dict = {}
    exec(compile(example.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["result"].status in STATUSES
    assert namespace["L"] < 1e-20


def test_layout_names_only_files_that_exist():
    layout = re.search(r"## Layout\n.*?```text\n(.*?)```", README, re.S).group(1)
    folders: list[str] = []  # the folder open at each indentation depth
    for line in layout.splitlines():
        depth = (len(line) - len(line.lstrip())) // 2
        named = line.strip().split("  ")[0]  # the names before the description
        if named.endswith("/"):
            folders = folders[:depth] + [named]
        for name in re.findall(r"[a-z_]+(?:\.py|/)", named):
            base = "".join(folders[:depth])
            assert (ROOT / base / name).exists(), f"README Layout names {base}{name}, which does not exist"


def test_grid_table_is_the_code_s():
    from solvers.harness.measure.grids import markdown_table

    assert markdown_table() in README, "README's grid table drifted: paste solvers.harness.measure.grids.markdown_table()"


def _commands() -> list[list[str]]:
    """Every ``attnreg …`` command in the README's code blocks (continuation lines joined)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            for part in line.split("&&"):
                words = shlex.split(part)
                if words and words[0] == "attnreg":
                    commands.append(words[1:])
    return commands


def test_every_readme_command_parses():
    from solvers.cli import build_parser

    commands = _commands()
    assert len(commands) >= 4
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)  # exits (fails the test) on an option the CLI does not have
        assert args.command == argv[0]


def test_no_reference_a_reader_cannot_follow():
    assert not re.search(r"\bSPEC\b|issue #\d+", README)


def test_every_maths_reference_points_into_docs_maths():
    """Code, docs and reports cite the maths by section ("docs/maths.md §4"): each section exists."""
    sections = set(re.findall(r"^## (\d+)\. ", (ROOT / "docs" / "maths.md").read_text(), flags=re.MULTILINE))
    cited = set()
    for path in [*ROOT.glob("solvers/**/*.py"), *ROOT.glob("benchmarks/**/*.py"), *ROOT.glob("reports/**/*.md"),
                 ROOT / "README.md"]:
        text = path.read_text()
        assert "SPEC" + " §" not in text, f"{path} cites the brief, not docs/maths.md"
        for first, rest in re.findall(r"docs/maths\.md §(\d+)((?:[–,-] ?§?\d+)*)", text):
            cited |= {first, *re.findall(r"\d+", rest)}
    assert cited and cited <= sections, f"cited sections {sorted(cited - sections)} are not in docs/maths.md"
