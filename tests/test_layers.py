"""The package's imports run with the pipeline: a module may import its own stage and the stages before it, never a
later one. Every import counts, the lazy ones inside functions too (an AST walk, so nothing is executed)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "harness"
# The stages in pipeline order: each may import those before it. `harness` itself (__init__: the version) is below all.
STAGES = ["core", "config", "store", "data", "models", "train", "eval", "plan", "report", "launch", "cli", "__main__"]


def stage(module: str) -> str:
    """`harness.train.loop` -> "train"; `harness.cli` -> "cli"; `harness` -> ""."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imported(path: Path, module: str) -> set[str]:
    """The harness modules `path` imports, anywhere in it, with relative imports resolved against `module`."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {n for n in names if n.split(".")[0] == "harness" and is_module(n)}


def is_module(name: str) -> bool:
    """`harness.train.loop` is; `harness.__version__` and `harness.train.loop.train` (names in a module) are not."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out.append((path, ".".join(parts[:-1] if parts[-1] == "__init__" else parts)))
    return out


def test_every_module_belongs_to_a_stage():
    assert {stage(m) for _, m in modules()} - {""} <= set(STAGES)


@pytest.mark.parametrize("path,module", modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_module_imports_a_later_stage(path, module):
    own = STAGES.index(stage(module)) if stage(module) else -1
    later = sorted(name for name in imported(path, module) if stage(name) and STAGES.index(stage(name)) > own)
    assert not later, f"{module} ({stage(module) or 'harness'}) imports a later stage: {', '.join(later)}"


def test_the_walk_sees_lazy_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from harness.report import tables\n    import harness.launch.slurm\n")
    assert imported(probe, "harness.core.probe") >= {"harness.report.tables", "harness.launch.slurm"}
