"""Every import in ``smmsheet/`` follows the layers drawn in ``docs/architecture.md``.

The rules are read from the document's two tables (layers, packages), so the picture a
newcomer reads is the one the code is held to. Imports are found with ``ast``: at module
level, inside functions and under ``if TYPE_CHECKING:`` alike, since each is a dependency.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "smmsheet"
DOC = ROOT / "docs/architecture.md"

#: Imports that break the rules today, each with the change that removes it. The test fails
#: when one is gone, so that its line goes too.
PENDING: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Layer:
    name: str
    modules: tuple[str, ...]  # patterns: "panel", "workbook.*"
    may_import: frozenset[str]  # layer names, besides its own

    def holds(self, module: str) -> bool:
        return any(
            fnmatch(module, pattern) or module == pattern.removesuffix(".*")
            for pattern in self.modules
        )


def table(title: str) -> list[list[str]]:
    """The rows of the Markdown table under the ``## title`` heading, cells stripped."""
    section = DOC.read_text(encoding="utf-8").split(f"\n## {title}\n", 1)[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def names(cell: str) -> list[str]:
    """``"`a`, `b`"`` -> ``["a", "b"]``; plain words (layer names) are kept as written."""
    return [part.strip().strip("`") for part in cell.split(",") if part.strip()]


def read_layers() -> list[Layer]:
    rows = table("Layers")
    words = {"every layer": frozenset(row[0] for row in rows), "nothing else": frozenset()}
    return [
        Layer(row[0], tuple(names(row[1])), words.get(row[2], frozenset(names(row[2]))))
        for row in rows
    ]


LAYERS = read_layers()
#: package -> where it may be imported: layer names, or module names in backticks.
PACKAGE_RULES = {package: names(row[1]) for row in table("Packages") for package in names(row[0])}


def module_name(path: Path) -> str:
    """``smmsheet/workbook/base.py`` -> ``workbook.base``; the package itself -> ``__init__``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(module: str) -> set[str]:
    """What ``module`` imports: our modules by name (``panel``), others by top-level package."""
    path = MODULES[module]
    package = path.parent.relative_to(ROOT).parts  # ("smmsheet", "workbook")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) + 1 - node.level] if node.level else ()
            if node.module is None:  # from . import errors
                found.update(".".join((*base, alias.name)) for alias in node.names)
            else:
                found.add(".".join((*base, node.module)))
    return {short_name(name) for name in found}


def short_name(name: str) -> str:
    """``smmsheet.workbook.base`` -> ``workbook.base``, ``smmsheet`` -> ``__init__``, and
    ``xlwings.utils`` -> ``xlwings``."""
    if name == "smmsheet":
        return "__init__"
    if name.startswith("smmsheet."):
        return name.removeprefix("smmsheet.")
    return name.split(".")[0]


def layer_of(module: str) -> Layer | None:
    rooms = [layer for layer in LAYERS if layer.holds(module)]
    assert len(rooms) <= 1, f"{module} is in two layers: {[r.name for r in rooms]}"
    return rooms[0] if rooms else None


def test_the_document_holds_the_rules_it_promises():
    by_name = {layer.name: layer for layer in LAYERS}
    assert "engine" not in by_name["workbook adapters"].may_import
    assert all("CLI" not in layer.may_import for layer in LAYERS if layer.name != "CLI")
    assert by_name["simulator"].may_import == frozenset()
    assert all(
        "simulator" not in layer.may_import
        for layer in LAYERS
        if layer.name not in {"CLI", "public face", "Excel front"}  # Excel front: the Self-test
    )
    assert PACKAGE_RULES["xlwings"] == ["workbook adapters", "Excel front"]
    assert set(PACKAGE_RULES["click"]) == {"CLI"}
    places = {name for layer in LAYERS for name in (layer.name, *layer.modules)}
    assert all(set(where) <= places for where in PACKAGE_RULES.values()), PACKAGE_RULES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_has_its_place_in_the_picture(module):
    assert layer_of(module) is not None, (
        f"smmsheet/{module} is in no layer: add it to the table in docs/architecture.md"
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_the_ones_below(module):
    layer = layer_of(module)
    assert layer is not None
    allowed = layer.may_import | {layer.name}
    wrong = []
    for name in sorted(imports(module) & MODULES.keys()):
        target = layer_of(name)
        assert target is not None, f"{module} imports {name}, which is in no layer"
        if target.name not in allowed and (module, name) not in PENDING:
            wrong.append(f"{name} ({target.name})")
    assert not wrong, f"{module} ({layer.name}) may not import {', '.join(wrong)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_heavy_and_interface_packages_stay_in_their_rooms(module):
    layer = layer_of(module)
    assert layer is not None
    wrong = [
        package
        for package in sorted(imports(module))
        if package in PACKAGE_RULES
        and not {layer.name, module} & set(PACKAGE_RULES[package])
        and (module, package) not in PENDING
    ]
    assert not wrong, f"{module} ({layer.name}) may not import {', '.join(wrong)}"


def test_the_simulator_needs_only_the_standard_library():
    for module in (m for m in MODULES if m.startswith("simulator")):
        foreign = imports(module) - MODULES.keys() - sys.stdlib_module_names
        assert not foreign, f"{module} imports {sorted(foreign)}"


@pytest.mark.parametrize(("module", "name"), sorted(PENDING))
def test_each_pending_exception_is_still_needed(module, name):
    if module not in MODULES:
        pytest.skip(f"smmsheet/{module} does not exist in this tree")
    assert name in imports(module), (
        f"{module} no longer imports {name} ({PENDING[module, name]}): "
        "remove it from PENDING in tests/test_architecture.py"
    )
