import subprocess
import sys
from pathlib import Path

import pytest

from tracker.config import TrackerConfig, load_config
from tracker.errors import TrackerError


def test_defaults_are_mdnet_settings_but_the_marked_deviations():
    c = TrackerConfig()
    cand, smp, upd, learning = c.candidates, c.samples, c.updates, c.learning
    assert (cand.n_samples, cand.trans, cand.scale, cand.trans_limit, cand.top_k) == (256, 0.6, 1.05, 1.5, 5)
    assert (smp.n_pos_init, smp.n_neg_init, upd.maxiter_init, upd.lr_init) == (500, 5000, 50, 0.0005)
    assert (smp.n_pos_update, smp.n_neg_update, upd.maxiter_update, upd.lr_update) == (50, 200, 15, 0.001)
    assert (upd.long_interval, smp.n_frames_long, smp.n_frames_short) == (10, 100, 30)
    assert (upd.batch_pos, upd.batch_neg, upd.hard_negative_mining) == (32, 96, True)
    assert (learning.momentum, learning.weight_decay, learning.grad_clip, learning.lr_mult) == (
        0.9, 0.0005, 10.0, {"fc6": 10.0})
    # the deviations (each marked "# deviation" in tracker/config_sections.py with its reason), and only those
    assert (c.network.backbone, c.network.backbone_channels, upd.batch_neg_cand) == (
        "efficientnet_lite0", (48, 96, 128), 256)
    assert (learning.updater, upd.update_schedule, upd.update_steps_per_frame) == ("bdfa", "steps", 2)


def test_the_mdnet_fidelity_preset_restores_mdnets_rule_reading_mining_schedule_and_search():
    config = load_config(Path(__file__).resolve().parent.parent / "configs" / "mdnet_fidelity.yaml")
    assert (config.learning.updater, config.updates.batch_neg_cand, config.updates.update_schedule) == (
        "bp", 1024, "full")
    default = TrackerConfig()
    assert config.replace(learning={"updater": "bdfa"},
                          updates={"batch_neg_cand": 256, "update_schedule": "steps",
                                   "update_first_lost_steps": default.updates.update_first_lost_steps},
                          network={"candidate_features": "shared", "sample_features": "shared"},
                          redetection={"redetect_interval": default.redetection.redetect_interval},
                          box={"box_estimator": default.box.box_estimator}) == default


def test_yaml_overrides_a_subset(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("updates:\n  batch_size: 32\n  lr_update: 0.002\nnetwork:\n  backbone_channels: [8, 16, 32]\n")
    c = load_config(path)
    assert (c.updates.batch_size, c.updates.batch_pos, c.updates.batch_neg) == (32, 8, 24)
    assert c.updates.lr_update == 0.002 and c.network.backbone_channels == (8, 16, 32)
    # untouched keys keep their defaults, in the sections named and in the others
    assert c.updates.maxiter_update == 15 and c.candidates.n_samples == 256
    assert c.changes() == {"updates": {"batch_size": 32, "lr_update": 0.002},
                           "network": {"backbone_channels": (8, 16, 32)}}


def test_overrides_change_the_keys_they_name_and_keep_the_rest_of_their_section(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("learning:\n  updater: bp\n  momentum: 0.5\nseed: 4\n")
    c = load_config(path, learning={"updater": "fa"}, seed=None)  # None: not given
    assert (c.learning.updater, c.learning.momentum, c.seed) == ("fa", 0.5, 4)
    assert c.replace(learning={"momentum": 0.8}).learning == c.learning.__class__(updater="fa", momentum=0.8)


def test_int_is_accepted_for_float_but_not_the_reverse(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("updates: {lr_init: 1}\n")
    assert load_config(path).updates.lr_init == 1.0
    path.write_text("candidates: {n_samples: 2.5}\n")
    with pytest.raises(TrackerError, match="n_samples must be int"):
        load_config(path)


@pytest.mark.parametrize("text,message", [
    ("not_a_key: 1\n", "unknown key"),
    ("updates: {batch_size: big}\n", "updates.batch_size must be int"),
    ("updates: {hard_negative_mining: 1}\n", "must be bool"),
    ("updates: {batch_size: 2}\n", "at least 4"),
    ("learning: {updater: sgd}\n", "unknown learning.updater"),
    ("network: {candidate_features: fast}\n", "network.candidate_features"),
    ("network: {backbone_channels: [8, 16]}\n", "backbone_channels must be"),
    ("learning: {lr_mult: {fc7: 2}}\n", "lr_mult keys"),
    ("redetection: {redetect_scale_step: 0.5}\n", "redetection.redetect_scale_step must be in 1 .. 4"),
    ("network: {trunk_runtime: tensorrt}\n", "trunk_runtime must be one of"),
    ("- a\n- b\n", "mapping"),
    ("a: [\n", "not valid YAML"),
    # a key from before the sections: where it lives now
    ("batch_size: 32\n", r"unknown key\(s\) batch_size \(settings live in sections now: batch_size -> "
                          r"updates.batch_size; in YAML a mapping per section, on the command line --set"),
    ("updater: bp\nlr_update: 0.1\n", r"lr_update -> updates.lr_update, updater -> learning.updater"),
    ("frame_budget_ms: 30\n", "frame_budget_ms is no longer a config key: it is the speed harness's --frame-budget-ms"),
    # a key in the wrong section, a misspelt one, a section that is not a mapping, a misspelt section
    ("learning: {batch_size: 32}\n", "learning has no batch_size: batch_size -> updates.batch_size"),
    ("learning: {updatr: bp}\n", r"unknown key\(s\) in learning: updatr \(did you mean: updatr -> updater\?\)"),
    ("learning: bp\n", "learning must be a mapping of its keys to values"),
    ("learnin: {updater: bp}\n", "did you mean: learnin -> learning"),
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


def test_the_config_is_frozen_changes_go_through_replace_which_validates():
    import dataclasses

    config = TrackerConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.updates.batch_size = 3
    with pytest.raises(TrackerError, match="batch_size must be at least 4"):
        config.replace(updates={"batch_size": 3})


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
