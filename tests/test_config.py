import subprocess
import sys
from pathlib import Path

import pytest

from tracker.config import TrackerConfig, load_config
from tracker.errors import TrackerError


def test_defaults_are_mdnet_settings_but_the_marked_deviations():
    c = TrackerConfig()
    assert (c.n_samples, c.trans, c.scale, c.trans_limit, c.top_k) == (256, 0.6, 1.05, 1.5, 5)
    assert (c.n_pos_init, c.n_neg_init, c.maxiter_init, c.lr_init) == (500, 5000, 50, 0.0005)
    assert (c.n_pos_update, c.n_neg_update, c.maxiter_update, c.lr_update) == (50, 200, 15, 0.001)
    assert (c.long_interval, c.n_frames_long, c.n_frames_short) == (10, 100, 30)
    assert (c.batch_pos, c.batch_neg, c.hard_negative_mining) == (32, 96, True)
    assert (c.momentum, c.weight_decay, c.grad_clip, c.lr_mult) == (0.9, 0.0005, 10.0, {"fc6": 10.0})
    # the deviations (each marked "# deviation" in tracker/config.py with its reason), and only those
    assert (c.backbone, c.backbone_channels, c.batch_neg_cand) == ("efficientnet_lite0", (48, 96, 128), 256)
    assert (c.updater, c.update_schedule, c.update_steps_per_frame) == ("bdfa", "steps", 2)


def test_the_mdnet_fidelity_preset_restores_mdnets_rule_reading_mining_schedule_and_search():
    config = load_config(Path(__file__).resolve().parent.parent / "configs" / "mdnet_fidelity.yaml")
    assert (config.updater, config.batch_neg_cand, config.update_schedule) == ("bp", 1024, "full")
    assert config.replace(updater="bdfa", batch_neg_cand=256, candidate_features="shared", sample_features="shared",
                          update_schedule="steps", update_first_lost_in_full=True,
                          redetect_interval=TrackerConfig().redetect_interval,
                          box_estimator=TrackerConfig().box_estimator) == TrackerConfig()


def test_yaml_overrides_a_subset(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("batch_size: 32\nlr_update: 0.002\nbackbone_channels: [8, 16, 32]\n")
    c = load_config(path)
    assert (c.batch_size, c.batch_pos, c.batch_neg) == (32, 8, 24)
    assert c.lr_update == 0.002 and c.backbone_channels == (8, 16, 32)
    assert c.n_samples == 256  # untouched keys keep their defaults


def test_int_is_accepted_for_float_but_not_the_reverse(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr_init: 1\n")
    assert load_config(path).lr_init == 1.0
    path.write_text("n_samples: 2.5\n")
    with pytest.raises(TrackerError, match="n_samples must be int"):
        load_config(path)


@pytest.mark.parametrize("text,message", [
    ("not_a_key: 1\n", "unknown key"),
    ("batch_size: big\n", "batch_size must be int"),
    ("hard_negative_mining: 1\n", "must be bool"),
    ("batch_size: 2\n", "at least 4"),
    ("updater: sgd\n", "unknown updater"),
    ("candidate_features: fast\n", "candidate_features"),
    ("backbone_channels: [8, 16]\n", "backbone_channels must be"),
    ("lr_mult: {fc7: 2}\n", "lr_mult keys"),
    ("redetect_scale_step: 0.5\n", "redetect_scale_step must be in 1 .. 4"),
    ("trunk_runtime: tensorrt\n", "trunk_runtime must be one of"),
    ("- a\n- b\n", "mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_config_files_give_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TrackerError, match=message):
        load_config(path)


def test_missing_config_file():
    with pytest.raises(TrackerError, match="not found"):
        load_config("/nonexistent/my.yaml")


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml")))
def test_shipped_presets_load(path):
    config = load_config(path)
    assert config != TrackerConfig()  # each one changes something


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parent.parent / "results").glob("*/configs/*.yaml")))
def test_the_studies_variant_configs_still_load(path):
    load_config(path)  # (a study's own row for the default changes nothing)


def test_the_config_is_frozen_changes_go_through_replace_which_validates():
    import dataclasses

    config = TrackerConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.batch_size = 3
    with pytest.raises(TrackerError, match="batch_size must be at least 4"):
        config.replace(batch_size=3)


def test_the_config_is_a_leaf_importing_no_implementation():
    """Reading a YAML file needs neither torch nor any rule, estimator or backbone: the dependency runs one
    way, the implementations import the config."""
    code = ("import sys, tracker.config; "
            "print([m for m in sys.modules if m == 'torch' or m.startswith(('tracker.updaters', "
            "'tracker.box_estimation', 'tracker.backbones', 'tracker.learner', 'tracker.update_schedule'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_the_configs_names_are_the_registries_names():
    from tracker import config
    from tracker.backbones import BACKBONES
    from tracker.backbones.efficientnet_lite0 import N_BLOCKS
    from tracker.box_estimation import BOX_ESTIMATORS
    from tracker.updaters import UPDATERS

    assert set(config.UPDATER_NAMES) == set(UPDATERS)
    assert set(config.BOX_ESTIMATOR_NAMES) == set(BOX_ESTIMATORS)
    assert config.BACKBONE_MIN_IMG_SIZE == {name: cls.min_img_size for name, cls in BACKBONES.items()}
    assert config.N_BLOCKS == N_BLOCKS
