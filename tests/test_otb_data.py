"""OTB folders as users have them: OTB-2015's frame ranges, worked out from the numbers in file names."""

import numpy as np
import pytest

from tests.conftest import write_otb
from tracker.data.otb import OTB_FRAME_RANGES, open_otb, open_source
from tracker.errors import TrackerError


def make_folder(root, name, numbers, n_boxes, digits=4, first_box=None):
    """Empty frame files (opening a sequence reads no pixels) and boxes whose x is the frame they label."""
    folder = root / name
    (folder / "img").mkdir(parents=True)
    for n in numbers:
        (folder / "img" / f"{n:0{digits}d}.jpg").write_bytes(b"")
    first_box = numbers[0] if first_box is None else first_box
    lines = [f"{first_box + i},5,20,20" for i in range(n_boxes)]
    (folder / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return folder


def frame_number(path):
    return int(path.stem)


@pytest.mark.parametrize("name", sorted(OTB_FRAME_RANGES))
def test_each_otb2015_range_as_the_dataset_ships_it(tmp_path, name):
    """Folders as OTB-100 distributes them: BlurCar1/3/4 start at their first evaluated frame, the others
    at 0001 with extra frames past the range (David 770, Diving 231, Football1 81, ...); Tiger1's
    ground truth covers frames 1-354."""
    first, last = OTB_FRAME_RANGES[name]
    start = first if name.startswith("BlurCar") else 1
    numbers = list(range(start, last + 1 + (16 if name in ("Diving", "Football1", "Freeman3", "Freeman4") else 0)))
    n_boxes = last if name == "Tiger1" else last - first + 1
    sequence = open_otb(make_folder(tmp_path, name, numbers, n_boxes, first_box=1 if name == "Tiger1" else first))
    assert len(sequence) == last - first + 1 == len(sequence.ground_truth)
    assert frame_number(sequence.paths[0]) == first and frame_number(sequence.paths[-1]) == last
    np.testing.assert_array_equal(sequence.ground_truth[:, 0], [frame_number(p) for p in sequence.paths])


def test_a_david_folder_holding_only_the_evaluated_frames(tmp_path):
    sequence = open_otb(make_folder(tmp_path, "David", list(range(300, 771)), 471))
    assert len(sequence) == 471 and frame_number(sequence.paths[0]) == 300


def test_a_frame_missing_inside_the_range_is_named(tmp_path):
    numbers = [n for n in range(1, 232) if n != 100]
    with pytest.raises(TrackerError, match=r"frame 100 of OTB-2015's range 1-215 is missing"):
        open_otb(make_folder(tmp_path, "Diving", numbers, 215))


def test_ground_truth_that_fits_no_reading_of_the_range(tmp_path):
    with pytest.raises(TrackerError, match=r"300 boxes fit neither OTB-2015's frames 300-770 \(471 boxes\)"):
        open_otb(make_folder(tmp_path, "David", list(range(1, 771)), 300))


def test_sequences_without_a_range_keep_every_frame_and_five_digit_names_work(tmp_path):
    sequence = open_otb(make_folder(tmp_path, "Board", list(range(1, 699)), 698, digits=5))
    assert len(sequence) == 698 and frame_number(sequence.paths[-1]) == 698


def test_a_folder_with_two_targets_says_which_it_tracks(tmp_path):
    """A folder holding groundtruth_rect.1.txt and .2.txt, given without a target, tracks target 1 and says so."""
    folder = write_otb(tmp_path / "Pair", gt_name="groundtruth_rect.1.txt")
    (folder / "groundtruth_rect.2.txt").write_text((folder / "groundtruth_rect.1.txt").read_text())
    with pytest.warns(UserWarning, match="Pair has 2 targets: tracking target 1"):
        sequence = open_source(folder)
    assert sequence.name == "Pair.1"
    assert open_source(tmp_path / "Pair.2").name == "Pair.2"
