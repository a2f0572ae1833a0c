"""The README and the docs stay true: every link resolves, the presets load, the Python block runs, the
architecture page names every module, and benchmarks never write into the committed results by default. (That
the README's tables equal the results they cite is the lab's check: ``studies/tests/test_results.py``.)"""

import importlib
import re
from pathlib import Path

import pytest

from tracker.config import TrackerConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, ROOT / "CHANGELOG.md", ROOT / "configs" / "README.md", ROOT / "tracker" / "pretrained" / "README.md",
        *sorted((ROOT / "docs").glob("*.md"))]


def headline_rows() -> list[list[str]]:
    text = README.read_text()
    table = text[text.index("<!-- headline"):].split("\n\n")[0].splitlines()[1:]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    assert rows[0][:6] == ["tracker", "success AUC", "precision@20", "true size at its centre",
                           "its size at the true centre", "fps"]
    return rows[2:]


def number(cell: str) -> str:
    return cell.replace("*", "").strip()


def test_the_readme_names_the_configured_default_rule():
    defaults = [label for label, *_ in headline_rows() if "(default)" in label]
    assert defaults == [f"**ours, `{TrackerConfig().learning.updater}` (default)**"]
    first_paragraph = README.read_text().split("\n\n")[1]
    assert f"`{TrackerConfig().learning.updater}` (default)" in first_paragraph


def test_the_readme_is_a_product_page():
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= 250 and len(text.encode()) <= 25_000
    first_command = next(i for i, line in enumerate(lines) if line.startswith(("python", "git clone", "pip")))
    assert first_command < 40


def links_resolve(doc: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        assert (doc.parent / target.split("#")[0]).exists(), f"{doc.relative_to(ROOT)} links to missing {target}"


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_every_relative_link_resolves(doc):
    links_resolve(doc)


def test_every_preset_loads_says_what_it_is_for_and_is_indexed():
    index = (ROOT / "configs" / "README.md").read_text()
    presets = sorted((ROOT / "configs").glob("*.yaml"))
    assert presets
    for preset in presets:
        assert preset.read_text().startswith("# ") and f"]({preset.name})" in index, preset.name
        load_config(preset)


BENCHMARKS = ["tracker.evaluation.absence", "tracker.evaluation.memory", "tracker.evaluation.otb_ope",
              "tracker.evaluation.paired", "tracker.evaluation.speed", "tracker.evaluation.targets"]


def writes_to_runs_by_default(module: str) -> None:
    args = importlib.import_module(module).parse_args([])
    for flag in ("out", "ope"):
        if hasattr(args, flag):
            assert str(getattr(args, flag)).startswith("runs/"), (module, flag)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmarks_write_to_runs_by_default(name):
    writes_to_runs_by_default(name)


def prose_pointers_to_missing_sections(files: list[Path]) -> list[str]:
    """'README *Section*' or 'README "Section"' in ``files`` whose section is not one of the README's."""
    headings = {line.lstrip("#").strip() for line in README.read_text().splitlines() if line.startswith("#")}
    pointer = re.compile(r"(?<![\w/.])README(?:\.md)?[ ,(]*[*\"]([A-Z][^*\"\n]{1,60})[*\"]")
    return [f"{path.relative_to(ROOT)}: {name}" for path in files
            for name in pointer.findall(path.read_text()) if name not in headings]


def test_every_prose_pointer_to_a_readme_section_names_a_section_that_exists():
    assert not prose_pointers_to_missing_sections([*ROOT.glob("tracker/**/*.py"), *ROOT.glob("configs/*.yaml"),
                                                   *DOCS])


def test_the_architecture_page_names_every_module():
    """docs/architecture.md gives every module under tracker/ its line, by its path inside the package."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"^  ([\w/]+\.py) ", page, flags=re.MULTILINE))
    modules = {str(path.relative_to(ROOT / "tracker")) for path in (ROOT / "tracker").rglob("*.py")}
    assert modules == named, (sorted(modules - named), sorted(named - modules))


def test_the_python_api_block_runs_as_written(tmp_path, monkeypatch, capsys):
    """The README's Python block, on a video.mp4 of the synthetic sequence whose first box is the block's."""
    import cv2

    from tracker.data.synthetic import synthetic_sequence

    text = README.read_text()
    block = text[text.index("```python") + len("```python"):]
    block = block[:block.index("```")]
    box = [100, 80, 60, 40]
    sequence = synthetic_sequence(n_frames=6)
    assert f"tracker.init(next(frames), {box})" in block
    writer = cv2.VideoWriter(str(tmp_path / "video.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25,
                             sequence.frames[0].shape[1::-1])
    for frame in sequence.frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 5 and namespace["stats"].phase_seconds["features"] > 0
