"""The published results stay true: the README's tables equal the results they cite, every results folder has
its README whose links resolve, and every study variant's config still loads. The lab's side of
``tests/test_readme.py``, which reads nothing under ``results/``."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests.test_readme import (
    README,
    ROOT,
    headline_rows,
    links_resolve,
    number,
    prose_pointers_to_missing_sections,
    writes_to_runs_by_default,
)
from tracker.config import load_config

pytestmark = pytest.mark.lab
RESULTS_DOCS = [ROOT / "results" / "README.md", *sorted((ROOT / "results").glob("*/README.md"))]
STUDIES = ["studies.accuracy", "studies.alignment", "studies.backbones", "studies.scale_sensitivity",
           "studies.trunk_cost", "studies.update_cost", "studies.width"]


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


def test_every_results_folder_has_a_readme():
    folders = [path for path in (ROOT / "results").iterdir() if path.is_dir()]
    assert folders and [f.name for f in folders if not (f / "README.md").is_file()] == []


@pytest.mark.parametrize("path", sorted((ROOT / "results").glob("*/configs/*.yaml")))
def test_the_studies_variant_configs_still_load(path):
    load_config(path)  # (a study's own row for the default changes nothing)


@pytest.mark.parametrize("doc", RESULTS_DOCS, ids=[str(d.relative_to(ROOT)) for d in RESULTS_DOCS])
def test_every_relative_link_in_the_results_resolves(doc):
    links_resolve(doc)


@pytest.mark.parametrize("name", STUDIES)
def test_studies_write_to_runs_by_default(name):
    writes_to_runs_by_default(name)


def test_every_prose_pointer_in_the_lab_to_a_readme_section_names_a_section_that_exists():
    assert not prose_pointers_to_missing_sections([*ROOT.glob("studies/*.py"), *ROOT.glob("results/*/configs/*.yaml"),
                                                   *RESULTS_DOCS])
