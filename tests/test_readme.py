"""The README's set-up commands are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_exactly_two_setup_commands():
    commands = setup_commands()
    assert len(commands) == 2, commands
    run, test = commands
    assert "pip install -r requirements.txt" in run and run.endswith("python -m ui")
    assert "pip install -r requirements.txt" in test and test.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert setup_commands()[1] in ci_lines


def test_requirements_pin_cpu_torch_and_bound_every_package():
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    reqs = [ln for ln in lines if ln]
    assert "torch==2.13.0" in reqs
    for req in reqs:
        assert re.search(r"(==|<)", req), f"{req} has no upper bound"
