"""The README and the docs stay true: the headline table equals the results it cites, every link resolves,
the presets load, and benchmarks never write into the committed results by default."""

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from tracker.config import TrackerConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, ROOT / "CHANGELOG.md", ROOT / "configs" / "README.md", ROOT / "results" / "README.md",
        ROOT / "tracker" / "pretrained" / "README.md", *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "results").glob("*/README.md"))]


def headline_rows() -> list[list[str]]:
    text = README.read_text()
    table = text[text.index("<!-- headline"):].split("\n\n")[0].splitlines()[1:]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    assert rows[0][:6] == ["tracker", "success AUC", "precision@20", "true size at its centre",
                           "its size at the true centre", "fps"]
    return rows[2:]


def number(cell: str) -> str:
    return cell.replace("*", "").strip()


def test_the_headline_table_equals_the_results_it_cites():
    rows = headline_rows()
    assert len(rows) >= 4
    for label, auc, precision, location_only, size_only, fps, source in rows:
        label = label.strip("*")
        path = ROOT / re.search(r"\]\(([^)#]+)\)", source).group(1)
        data = json.loads(path.read_text())
        rule = re.search(r"`(\w+)`", label)
        if label.startswith("ours"):
            group = data["groups"][f"{rule.group(1)}-b128"]
            expected = [f"{np.mean(group[key]):.3f} ± {np.std(group[key]):.3f}"
                        for key in ("success_auc", "precision_20")]
            expected += [f"{np.mean(group[key]):.3f}" for key in ("location_only_auc", "size_only_auc")]
            expected.append(f"{np.mean(group['fps']):.1f}")
        else:
            other = data["others"][label.split()[0]]
            expected = [f"{other[key]:.3f}" for key in ("success_auc", "precision_20", "location_only_auc",
                                                         "size_only_auc")]
            expected.append("-" if other["fps"] is None else f"{other['fps']:.1f}")
        cells = [number(cell) for cell in (auc, precision, location_only, size_only, fps)]
        assert cells == expected, label



def marked_table(marker: str) -> tuple[Path, list[list[str]]]:
    """The README table after ``<!-- marker``: the JSON its header's [source](...) cites, and its body rows."""
    text = README.read_text()
    lines = text[text.index(f"<!-- {marker}"):].split("\n\n")[0].splitlines()[1:]
    source = ROOT / re.search(r"\[source\]\(([^)]+)\)", lines[0]).group(1)
    return source, [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_the_latency_table_equals_the_speed_run_it_cites():
    source, rows = marked_table("latency")
    records = {(r["sequence"], r["run"]): r for r in json.loads(source.read_text())["records"]}
    assert len(rows) == 15
    for sequence, frames, fps, median, p95, first, nano_fps, nano_median, nano_p95 in rows:
        ours, nano = records[sequence, "default"], records[sequence, "NanoTrack"]
        assert [frames, fps, median, p95, first] == [
            str(ours["frames"]), f"{ours['fps']:.1f}", f"{ours['latency']['all']['median_ms']:.0f}",
            f"{ours['latency']['all']['p95_ms']:.0f}", f"{ours['latency']['first_frame_ms'] / 1000:.2f}"], sequence
        assert [nano_fps, nano_median, nano_p95] == [
            f"{nano['fps']:.0f}", f"{nano['latency']['all']['median_ms']:.1f}",
            f"{nano['latency']['all']['p95_ms']:.1f}"], sequence


def test_the_absence_table_equals_the_run_it_cites():
    source, rows = marked_table("absence")
    results = json.loads(source.read_text())["results"]
    names = {"ours, `bdfa` (default)": "ours-s0", "NanoTrack (OpenCV)": "NanoTrack", "VitTrack (OpenCV)": "VitTrack"}
    assert [row[0] for row in rows] == list(names)
    for label, absent, tracked, found, f_score in rows:
        entries = list(results[names[label]].values())
        means = {key: float(np.mean([e[key] for e in entries if e[key] is not None]))
                 for key in ("absent_flagged_lost", "tracked_flagged_lost", "f_score")}
        assert [absent, tracked, found, f_score] == [
            f"{100 * means['absent_flagged_lost']:.1f}%", f"{100 * means['tracked_flagged_lost']:.1f}%",
            f"{sum(bool(e['recovered']) for e in entries)} of {len(entries)}", f"{means['f_score']:.3f}"], label

def test_the_readme_names_the_configured_default_rule():
    defaults = [label for label, *_ in headline_rows() if "(default)" in label]
    assert defaults == [f"**ours, `{TrackerConfig().updater}` (default)**"]
    assert f"`{TrackerConfig().updater}` (default)" in README.read_text().split("\n\n")[1]  # the first paragraph


def test_the_readme_is_a_product_page():
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= 250 and len(text.encode()) <= 25_000
    first_command = next(i for i, line in enumerate(lines) if line.startswith(("python", "git clone", "pip")))
    assert first_command < 40


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_every_relative_link_resolves(doc):
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        assert (doc.parent / target.split("#")[0]).exists(), f"{doc.relative_to(ROOT)} links to missing {target}"


def test_every_preset_loads_says_what_it_is_for_and_is_indexed():
    index = (ROOT / "configs" / "README.md").read_text()
    presets = sorted((ROOT / "configs").glob("*.yaml"))
    assert presets
    for preset in presets:
        assert preset.read_text().startswith("# ") and f"]({preset.name})" in index, preset.name
        load_config(preset)


BENCHMARKS = ["studies.accuracy", "studies.alignment", "studies.backbones", "tracker.evaluation.memory",
              "tracker.evaluation.otb_ope", "tracker.evaluation.paired", "studies.scale_sensitivity",
              "tracker.evaluation.speed", "studies.trunk_cost", "studies.update_cost", "studies.width"]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmarks_write_to_runs_by_default(name):
    args = importlib.import_module(name).parse_args([])
    for flag in ("out", "ope"):
        if hasattr(args, flag):
            assert str(getattr(args, flag)).startswith("runs/"), (name, flag)


def test_every_prose_pointer_to_a_readme_section_names_a_section_that_exists():
    """'README *Section*' or 'README "Section"' in code and docs: the section must be one of the README's."""
    headings = {line.lstrip("#").strip() for line in README.read_text().splitlines() if line.startswith("#")}
    pointer = re.compile(r"(?<![\w/.])README(?:\.md)?[ ,(]*[*\"]([A-Z][^*\"\n]{1,60})[*\"]")
    files = [*ROOT.glob("tracker/**/*.py"), *ROOT.glob("studies/*.py"), *ROOT.glob("configs/*.yaml"),
             *ROOT.glob("results/*/configs/*.yaml"), *DOCS]
    stale = [f"{path.relative_to(ROOT)}: {name}" for path in files
             for name in pointer.findall(path.read_text()) if name not in headings]
    assert not stale, stale


def test_the_architecture_page_names_every_module():
    """docs/architecture.md gives every module under tracker/ its line, by its path inside the package."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"^  ([\w/]+\.py) ", page, flags=re.MULTILINE))
    modules = {str(path.relative_to(ROOT / "tracker")) for path in (ROOT / "tracker").rglob("*.py")}
    assert modules == named, (sorted(modules - named), sorted(named - modules))


def test_every_results_folder_has_a_readme():
    folders = [path for path in (ROOT / "results").iterdir() if path.is_dir()]
    assert folders and [f.name for f in folders if not (f / "README.md").is_file()] == []


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
