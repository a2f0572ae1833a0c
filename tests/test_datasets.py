"""got10k's other benchmark layouts, built from the synthetic sequence: each lists and opens offline, the
harness runs on GOT-10k and LaSOT folders with their own metrics, and those metrics equal got10k's."""

import json

import cv2
import numpy as np
import pytest
import yaml

from tests.conftest import NARROW
from tracker.data.layouts import list_dataset
from tracker.data.synthetic import synthetic_sequence
from tracker.errors import TrackerError
from tracker.evaluation.ope import score_sequence, summarise
from tracker.evaluation.otb_ope import main as otb_ope

N = 8


def frames_into(folder, pattern="{:08d}.jpg", n=N, first=1):
    sequence = synthetic_sequence(n_frames=n, size=(160, 120))
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(sequence.frames):
        cv2.imwrite(str(folder / pattern.format(i + first)), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return sequence.ground_truth


def boxes_text(boxes, delimiter=","):
    return "\n".join(delimiter.join(f"{v:g}" for v in b) for b in boxes) + "\n"


def got10k_folder(root, name="GOT-10k_Val_000001", cover=None):
    truth = frames_into(root / name)
    (root / name / "groundtruth.txt").write_text(boxes_text(truth))
    cover = np.full(N, 8) if cover is None else np.asarray(cover)
    (root / name / "cover.label").write_text("\n".join(str(int(c)) for c in cover) + "\n")
    (root / name / "absence.label").write_text("\n".join("1" if c == 0 else "0" for c in cover) + "\n")
    (root / name / "cut_by_image.label").write_text("\n".join("0" for _ in cover) + "\n")
    (root / name / "meta_info.ini").write_text("[METAINFO]\nresolution: (160, 120)\n")
    with open(root / "list.txt", "a") as handle:
        handle.write(name + "\n")
    return truth


def lasot_folder(root, name="cat-1", hidden=()):
    folder = root / name.split("-")[0] / name
    truth = frames_into(folder / "img")
    (folder / "groundtruth.txt").write_text(boxes_text(truth))
    flags = ["1" if i in hidden else "0" for i in range(N)]
    (folder / "full_occlusion.txt").write_text(",".join(flags) + "\n")
    (folder / "out_of_view.txt").write_text(",".join("0" for _ in range(N)) + "\n")
    return truth


def test_each_layout_lists_and_opens_its_sequences(tmp_path):
    truth = got10k_folder(tmp_path / "got10k" / "val", cover=[8, 8, 0, 8, 8, 8, 8, 8])
    sequence = list_dataset("got10k", tmp_path / "got10k" / "val")["GOT-10k_Val_000001"]()
    assert len(sequence) == N and sequence.bound == (160, 120)
    assert np.isnan(sequence.ground_truth[2]).all() and np.allclose(sequence.ground_truth[3], truth[3])
    assert list(list_dataset("got10k", tmp_path / "got10k")) == ["GOT-10k_Val_000001"]  # the dataset root too

    lasot_folder(tmp_path / "lasot", hidden={4})
    sequence = list_dataset("lasot", tmp_path / "lasot")["cat-1"]()
    assert len(sequence) == N and np.isnan(sequence.ground_truth[4]).all()

    truth = frames_into(tmp_path / "tc" / "Ball" / "img", "{:04d}.jpg", n=N + 2)
    (tmp_path / "tc" / "Ball" / "Ball_gt.txt").write_text(boxes_text(truth[1:N + 1]))
    (tmp_path / "tc" / "Ball" / "Ball_frames.txt").write_text(f"2,{N + 1}\n")
    sequence = list_dataset("tcolor128", tmp_path / "tc")["Ball"]()
    assert [p.name for p in sequence.paths][:2] == ["0002.jpg", "0003.jpg"] and len(sequence) == N

    truth = frames_into(tmp_path / "nfs" / "ball" / "30" / "ball", "{:05d}.jpg")
    rows = [f"{i} {x:g} {y:g} {x + w:g} {y + h:g} 0 0 0 0 \"ball\"" for i, (x, y, w, h) in enumerate(truth)]
    (tmp_path / "nfs" / "ball" / "30" / "ball.txt").write_text("\n".join(rows) + "\n")
    np.testing.assert_allclose(list_dataset("nfs", tmp_path / "nfs")["ball"]().ground_truth, truth)

    truth = frames_into(tmp_path / "uav" / "data_seq" / "UAV123" / "bike2", "{:06d}.jpg", n=553)
    (tmp_path / "uav" / "anno" / "UAV123").mkdir(parents=True)
    (tmp_path / "uav" / "anno" / "UAV123" / "bike2.txt").write_text(boxes_text(truth))
    assert len(list_dataset("uav123", tmp_path / "uav")["bike2"]()) == 553  # got10k's frame range for bike2

    truth = frames_into(tmp_path / "dtb" / "Gull1" / "img", "{:05d}.jpg")
    (tmp_path / "dtb" / "Gull1" / "groundtruth_rect.txt").write_text(boxes_text(truth))
    assert len(list_dataset("dtb70", tmp_path / "dtb")["Gull1"]()) == N


@pytest.mark.parametrize("layout, damage, fragment", [
    ("lasot", lambda root: (root / "cat" / "cat-1" / "out_of_view.txt").unlink(), "has no out_of_view.txt"),
    ("got10k", lambda root: (root / "list.txt").write_text("GOT-10k_Val_000001\nGOT-10k_Val_000002\n"),
     "has no GOT-10k_Val_000002"),
])
def test_a_missing_file_in_a_layout_is_one_error_line_naming_it(tmp_path, capsys, layout, damage, fragment):
    root = tmp_path / layout
    (lasot_folder if layout == "lasot" else got10k_folder)(root)
    damage(root)
    assert otb_ope(["--dataset", layout, "--root", str(root), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0]


def test_a_malformed_file_fails_that_run_naming_the_file(tmp_path, capsys):
    root = tmp_path / "lasot"
    lasot_folder(root)
    (root / "cat" / "cat-1" / "groundtruth.txt").write_text("1,2,3\n")
    assert otb_ope(["--dataset", "lasot", "--root", str(root), "--out", str(tmp_path / "out"), "--updaters", "bp",
                    "--batch-sizes", "8", "--seeds", "1", "--peers", "", "--weights", "none"]) == 1
    failed = json.loads((tmp_path / "out" / "failed_runs.json").read_text())
    assert "malformed ground truth at" in failed["bp-b8-s0/cat-1"] and "groundtruth.txt:1" in failed["bp-b8-s0/cat-1"]


@pytest.fixture
def fast_config(tmp_path):
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
    return str(config)


@pytest.mark.parametrize("layout, heading, keys", [("got10k", "## got10k metrics", ("ao", "sr50", "sr75")),
                                                   ("lasot", "## lasot metrics", ("norm_precision",))])
def test_the_harness_runs_on_the_layout_and_reports_its_own_metrics(tmp_path, capsys, fast_config, layout, heading,
                                                                    keys):
    root = tmp_path / layout
    if layout == "got10k":
        got10k_folder(root, "GOT-10k_Val_000001")
        got10k_folder(root, "GOT-10k_Val_000002", cover=[8, 8, 8, 0, 0, 8, 8, 8])
    else:
        lasot_folder(root, "cat-1")
        lasot_folder(root, "dog-2", hidden={3, 4})
    args = ["--dataset", layout, "--root", str(root), "--out", str(tmp_path / "out"), "--updaters", "bp,bdfa",
            "--batch-sizes", "8", "--seeds", "1", "--peers", "", "--weights", "none", "--config", fast_config]
    assert otb_ope(args) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.startswith(f"# One-pass evaluation ({layout})") and heading in report
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    for key in keys:
        assert 0 <= data["groups"]["bp-b8"][key][0] <= 1
    assert otb_ope(args) == 0 and "4 already finished" in capsys.readouterr().err  # it resumes as OTB runs do


class Offset:
    """A got10k tracker that reports the ground truth shifted by a fixed offset (known, imperfect boxes)."""

    def __init__(self, truth):
        from got10k.trackers import Tracker

        class Shifted(Tracker):
            def __init__(self):
                super().__init__("Shifted", is_deterministic=True)
                self.frame = 0

            def init(self, image, box):
                self.frame = 0

            def update(self, image):
                self.frame += 1
                return truth[self.frame] + np.array([3.0 * self.frame, -2.0, 4.0, 1.0])

        self.tracker = Shifted()


def test_our_got10k_metrics_equal_got10k_experiment_on_one_sequence(tmp_path):
    from got10k.experiments import ExperimentGOT10k

    truth = got10k_folder(tmp_path / "GOT-10k" / "val", cover=[8, 8, 0, 8, 8, 8, 0, 8])
    experiment = ExperimentGOT10k(str(tmp_path / "GOT-10k"), subset="val", result_dir=str(tmp_path / "results"),
                                  report_dir=str(tmp_path / "reports"))
    experiment.run(Offset(truth).tracker)
    theirs = experiment.report(["Shifted"])["Shifted"]["overall"]
    run = tmp_path / "results" / "GOT-10k" / "Shifted" / "GOT-10k_Val_000001"
    boxes = np.loadtxt(run / "GOT-10k_Val_000001_001.txt", delimiter=",")
    sequence = list_dataset("got10k", tmp_path / "GOT-10k" / "val")["GOT-10k_Val_000001"]()
    ours = summarise([score_sequence(boxes, sequence.ground_truth, bound=sequence.bound)])
    assert ours["ao"] == pytest.approx(theirs["ao"]) and ours["sr50"] == pytest.approx(theirs["sr"])
    assert 0 < ours["ao"] < 1


def test_normalised_precision_by_hand():
    truth = np.array([[0, 0, 10, 20], [0, 0, 10, 20], [0, 0, 10, 20]], float)
    boxes = np.array([[0, 0, 10, 20], [1, 0, 10, 20], [0, 8, 10, 20]], float)  # offsets 0, 0.1 and 0.4 of the size
    curve = score_sequence(boxes, truth).norm_precision
    thresholds = np.linspace(0, 0.5, 51)
    expected = np.mean([[0 <= t, 0.1 <= t + 1e-12, 0.4 <= t + 1e-12] for t in thresholds], axis=1)
    # frame 1 is replaced by the ground truth (OTB convention): its offset counts as 0
    np.testing.assert_allclose(curve, expected)


def test_an_unknown_dataset_is_an_input_error():
    with pytest.raises(TrackerError, match="unknown dataset 'coco'"):
        list_dataset("coco", ".")
