"""The package installs anywhere: a wheel built from this checkout, installed into a folder of its own and run
from another directory, tracks with the shipped weights and runs the harness (no editable checkout behind it)."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.conftest import NARROW, write_otb

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # builds and installs the wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(site folder holding the installed wheel, environment running it without the checkout on any path)."""
    tmp = tmp_path_factory.mktemp("install")
    # built from a copy of what git tracks: pip builds in the source tree, whose build/ may hold stale modules
    source = tmp / "source"
    tracked = subprocess.run(["git", "ls-files", "-z", "pyproject.toml", "README.md", "LICENSE", "tracker"], cwd=ROOT,
                             capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "wheel"), str(source)],
                   check=True, capture_output=True, timeout=600)
    wheel = next((tmp / "wheel").glob("bdfa_tracker-*.whl"))
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site),
                    str(wheel)], check=True, capture_output=True, timeout=600)
    # -S: no site-packages .pth files, so the editable install's path to this checkout is not read either;
    # the dependencies come from this environment's site-packages, after the installed wheel
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]])}
    return site, env


def run(installed, cwd, *args):
    site, env = installed
    return subprocess.run([sys.executable, "-S", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_the_installed_package_tracks_with_its_shipped_weights_from_any_directory(installed, tmp_path):
    site, _ = installed
    where = run(installed, tmp_path, "-c", "import tracker, tracker.build as b; print(tracker.__file__); "
                                           "print(b.DEFAULT_WEIGHTS)")
    module, weights = where.stdout.split()
    assert Path(module).is_relative_to(site) and Path(weights).is_relative_to(site) and Path(weights).is_file()
    proc = run(installed, tmp_path, str(site / "bin" / "bdfa-track"), "--output", "b.txt", "--max-frames", "5",
               "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr  # neither a random backbone nor a fallback trunk
    assert len((tmp_path / "b.txt").read_text().splitlines()) == 5
    # the box stage's NanoTrack files travel with their licence and notice
    shipped = site / "tracker" / "pretrained"
    for name in ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx", "NanoTrack-LICENSE.txt", "NOTICE.txt"):
        assert (shipped / name).is_file(), name
    proc = run(installed, tmp_path, str(site / "bin" / "bdfa-track"), "--output", "s.txt", "--max-frames", "3",
               "--quiet", "--box-estimator", "siamese_head")
    assert proc.returncode == 0, proc.stderr


def test_the_installed_harness_runs_and_names_the_option_it_needs(installed, tmp_path):
    site, _ = installed
    write_otb(tmp_path / "otb" / "Syn", n_frames=4)
    (tmp_path / "fast.yaml").write_text(yaml.safe_dump(NARROW))
    common = ["--updaters", "bdfa", "--batch-sizes", "8", "--seeds", "1", "--peers", "", "--anchors", "",
              "--weights", "none", "--config", "fast.yaml"]
    proc = run(installed, tmp_path, str(site / "bin" / "bdfa-ope"), "--otb", "otb", "--out", "out", *common)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "results.json").is_file()
    proc = run(installed, tmp_path, "-m", "tracker.evaluation.otb_ope", "--out", "out2", *common)
    assert proc.returncode == 2 and "give --otb FOLDER" in proc.stderr, proc.stderr
