"""docs/DESIGN.md's generated part is what scripts/design_doc.py makes of the package now, and the
package's subpackages import one way (the order in the script) but for the edges it allows, with a reason."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("design_doc", REPO / "scripts" / "design_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["design_doc"] = module
    spec.loader.exec_module(module)
    return module


design_doc = _script()
ROOT = REPO / "trt_export"


def test_generated_part_is_current() -> None:
    document = design_doc.DESIGN.read_text(encoding="utf-8")
    assert design_doc.splice(document, design_doc.generated(ROOT)) == document, "run python scripts/design_doc.py"


def test_every_module_has_a_one_line_docstring() -> None:
    missing = [
        p.relative_to(ROOT).as_posix() for p in design_doc.modules(ROOT) if design_doc.first_line(p) == "(no docstring)"
    ]
    assert missing == []
    # A first line that wraps into the next is not a one-liner: it must end a sentence.
    wrapped = [
        p.relative_to(ROOT).as_posix()
        for p in design_doc.modules(ROOT)
        if not design_doc.first_line(p).endswith((".", "?", ")", ":"))
    ]
    assert wrapped == []


def test_no_cycle_but_the_allowed_ones() -> None:
    graph = design_doc.edges(ROOT)
    assert design_doc.cycles(graph, design_doc.ALLOWED) == []


def test_every_edge_against_the_order_is_allowed() -> None:
    graph = design_doc.edges(ROOT)
    assert [e for e in design_doc.against_order(graph) if e not in design_doc.ALLOWED] == []


def test_the_allowed_list_is_honest() -> None:
    """An allowed edge that no longer exists is removed from the list; each has a reason."""
    graph = design_doc.edges(ROOT)
    assert [edge for edge in design_doc.ALLOWED if edge[1] not in graph.get(edge[0], ())] == []
    assert all(reason.strip() for reason in design_doc.ALLOWED.values())


def test_the_checks_see_a_cycle_and_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "trt_export"
    for sub in ("model", "bench"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text(f'"""The {sub}."""\n')
    (package / "model" / "a.py").write_text('"""A."""\n\ndef f():\n    from trt_export.bench.b import g\n')
    (package / "bench" / "b.py").write_text('"""B."""\n\nfrom trt_export.model import a\n')
    graph = design_doc.edges(package)
    assert graph == {"model": {"bench"}, "bench": {"model"}}
    assert design_doc.against_order(graph) == [("model", "bench")]
    assert design_doc.cycles(graph, {}) != []
    assert design_doc.cycles(graph, {("model", "bench"): "test"}) == []


def test_a_unit_outside_the_layers_is_named() -> None:
    with pytest.raises(ValueError, match="add it to LAYERS"):
        design_doc.rank("nowhere")


def test_check_mode_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "DESIGN.md"
    stale.write_text(f"intro\n{design_doc.BEGIN}\nold\n{design_doc.END}\nhand-written\n", encoding="utf-8")
    monkeypatch.setattr(design_doc, "DESIGN", stale)
    assert design_doc.main(["--check"]) == 1
    assert "run python scripts/design_doc.py" in capsys.readouterr().err
    assert design_doc.main([]) == 0
    text = stale.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith("hand-written\n") and "## Dependencies" in text
    assert design_doc.main(["--check"]) == 0
