"""The dataclasses whose ``__init__`` is written out by hand (``init=False``: compiled with
mypyc, a generated one would run interpreted) must still set every field: one added later and
forgotten there would fail only when first read. Checked on the sources, so it holds for the
compiled build as well as the pure one."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "controlplane", "clients")


def _is_hand_written_dataclass(node: ast.ClassDef) -> bool:
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "dataclass":
            for keyword in decorator.keywords:
                if keyword.arg == "init" and isinstance(keyword.value, ast.Constant):
                    return keyword.value.value is False
    return False


def _fields(node: ast.ClassDef) -> set[str]:
    names = set()
    for statement in node.body:
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and "ClassVar" not in ast.unparse(statement.annotation)
        ):
            names.add(statement.target.id)
    return names


def _set_in(function: ast.FunctionDef) -> set[str]:
    """The attributes ``function`` sets: ``self.x = ...``, or ``object.__setattr__(self, "x",
    ...)`` (also through a local name for it: ``set_ = object.__setattr__``)."""
    setters = {"object.__setattr__"}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and ast.unparse(node.value) == "object.__setattr__":
            setters.update(ast.unparse(target) for target in node.targets)
    names = set()
    for node in ast.walk(function):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        for target in targets:
            for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                if (
                    isinstance(element, ast.Attribute)
                    and isinstance(element.value, ast.Name)
                    and element.value.id == "self"
                ):
                    names.add(element.attr)
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) in setters
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
        ):
            names.add(str(node.args[1].value))
    return names


def hand_written_inits() -> Iterator[tuple[str, set[str], set[str] | None]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and _is_hand_written_dataclass(node):
                    inits = [
                        f
                        for f in node.body
                        if isinstance(f, ast.FunctionDef) and f.name == "__init__"
                    ]
                    where = f"{path.relative_to(ROOT)}::{node.name}"
                    set_ = _set_in(inits[0]) if inits else None
                    yield where, _fields(node), set_


CASES = list(hand_written_inits())


def test_the_sources_have_such_classes() -> None:
    assert len(CASES) >= 10  # the scan finds them (a scan that found none would prove nothing)


@pytest.mark.parametrize(("where", "fields", "set_"), CASES, ids=[c[0] for c in CASES])
def test_every_field_is_set_by_the_written_out_init(
    where: str, fields: set[str], set_: set[str] | None
) -> None:
    assert set_ is not None, f"{where}: init=False but no __init__ of its own"
    assert fields <= set_, f"{where}: __init__ does not set {sorted(fields - set_)}"
