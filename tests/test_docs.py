"""What the code and the docs point at exists in the repository.

A reference to a document or a source file (a Markdown link, ``docs/excel.md`` in a
docstring, ``bench/bench_place.py`` in the README) is only useful if a reader finds the file:
references to notes kept outside the repository are how the panel API reference went missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Where references are written: the code, the tests, the benchmarks and every document.
SCANNED = [
    *ROOT.glob("*.md"),
    ROOT / "pyproject.toml",
    ROOT / ".ci" / "run",
    *(
        path
        for folder in ("smmsheet", "tests", "bench", "docs", "workbook_templates")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in {".py", ".md", ".toml"} and "__pycache__" not in path.parts
    ),
]
#: ``docs/panel-api.md``, ``smmsheet/simulator/``: a path from the root of the repository.
REPO_PATH = re.compile(
    r"(?<![\w/.~$-])((?:smmsheet|tests|bench|docs|workbook_templates|\.ci)/"
    r"(?:[\w.-]+/)*(?:[\w-]+\.(?:py|md|toml|xlsx|xlam)\b|))"
)
#: ``README.md``, ``[the ribbon](docs/excel.md)``: a document, by name or relative link.
DOCUMENT = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.md)\b")


def references(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return set(REPO_PATH.findall(text)) | set(DOCUMENT.findall(text))


def resolves(reference: str, source: Path) -> bool:
    """A reference holds if it names a file or folder from the root or from beside ``source``."""
    return any((base / reference).exists() for base in (ROOT, source.parent))


def test_the_scan_sees_the_references_it_is_meant_to_check():
    assert references(ROOT / "README.md") >= {"docs/excel.md", "docs/panel-api.md"}
    assert len(SCANNED) > 50


@pytest.mark.parametrize("source", SCANNED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_or_document_a_file_names_exists_in_the_repository(source: Path):
    missing = sorted(ref for ref in references(source) if not resolves(ref, source))
    assert not missing, f"{source.relative_to(ROOT)} names files not in the repository: {missing}"


def test_the_readme_names_the_commands_that_take_json():
    """The README said every command but `addin` takes --json; the newcomer's script did not
    ask `addin doctor` for JSON, which it prints (every addin command does)."""
    import click

    from smmsheet.cli import cli

    said = re.search(r"Every command (?:but `([\w -]+)` )?takes `--json`", readme())
    assert said, "the README no longer says which commands take --json"

    def leaves(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
        found: dict[str, click.Command] = {}
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found.update(leaves(command, f"{prefix}{name} "))
            else:
                found[prefix + name] = command
        return found

    without = sorted(
        name
        for name, command in leaves(cli).items()
        if "as_json" not in {p.name for p in command.params}
    )
    assert without == ([said.group(1)] if said.group(1) else [])


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_cron_job_has_the_key_its_profile_reads():
    """Cron does not run your shell's profile: the README's config example reads the key
    from MAIN_PANEL_KEY (`api_key_env`), and its cron line, followed as written, failed every
    10 minutes with "no API key ... MAIN_PANEL_KEY, which is not set" in the log."""
    text = readme()
    variables = re.findall(r'^api_key_env = "(\w+)"', text, re.MULTILINE)
    assert variables, "the README's config example no longer reads the key from a variable"
    [cron] = re.findall(r"```\n# cron \(crontab -e\).*?```", text, re.DOTALL)
    for variable in variables:
        assert re.search(rf"^{variable}=", cron, re.MULTILINE), (variable, cron)


def test_the_readme_says_how_its_bare_smmsheet_commands_run_after_its_install_line():
    """The first line installs into .venv and runs `.venv/bin/smmsheet demo`; every command
    after it is a bare `smmsheet ...`, which the newcomer's shell answered with "smmsheet:
    command not found": nothing said to activate the venv."""
    text = readme()
    first = text.splitlines()[0]
    assert ".venv/bin/pip install ." in first and "smmsheet new orders.xlsx" in text
    opening = text[: text.index("\n# smmsheet\n")]
    assert ". .venv/bin/activate" in opening


def test_every_environment_variable_smmsheet_reads_is_in_the_readme():
    """SMMSHEET_CONFIG (a config file elsewhere than `config-path`'s default) was read but
    named nowhere: the newcomer trying profiles found no way but editing ~/.config."""
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "smmsheet").rglob("*.py"))
    read = set(re.findall(r'"(SMMSHEET_[A-Z_]+)"', code))
    assert "SMMSHEET_API_KEY" in read
    assert sorted(v for v in read if v not in readme()) == []
