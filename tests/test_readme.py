"""The README's commands stay true: CI runs the README's test command verbatim."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    """Return the command lines of the README's first code block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_readme_has_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "pip install torch==2.13.0" in commands[0]
    assert "simtext train recipes/paraphrase-mnrl.yaml" in commands[0]


def test_ci_runs_readme_test_command():
    test_command = readme_commands()[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert test_command in ci_lines


def test_ci_installs_torch_first():
    ci_text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci_text.index("torch==2.13.0") < ci_text.index("-e '.[dev]'")
