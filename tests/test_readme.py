"""The README is part of the product: it must name every command, setting and template variable."""

from __future__ import annotations

import re

import pytest
from typer.main import get_command

from pipeline.cli import app
from pipeline.settings import Settings
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def command_names(group, prefix="dictee"):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from command_names(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}"


@pytest.mark.parametrize("command", sorted(command_names(get_command(app))))
def test_every_command_is_documented(command):
    assert f"`{command}" in README


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_with_its_environment_variable(name):
    assert f"`{name}`" in README and f"`DICTEE_{name.upper()}`" in README


def test_every_template_variable_is_documented(settings):
    import datetime as dt

    from pipeline.draft import draft_context
    from pipeline.records import Extraction, Patient

    context = draft_context(Extraction(None, Patient(), None, (), (), ""), settings, today=dt.date(2026, 1, 1))
    for name, value in context.items():
        assert f"`{name}" in README
        for key in value or {} if isinstance(value, dict) else ():
            assert f"`{name}.{key}`" in README


def test_quick_start_is_exactly_two_commands_that_exist():
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["bash scripts/quickstart.sh", "bash scripts/test.sh"]
    assert all((REPO / c.split()[1]).is_file() for c in commands)
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
