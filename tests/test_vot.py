"""``bdfa-vot`` driven through ``trax.client`` as the VOT toolkit drives it: every frame answered, the boxes of
``run_tracker.py`` on the same frames and seed, and a clean end on bad input."""

import json
import os
import resource
import subprocess
import sys
import threading

import numpy as np
import pytest
import yaml

from tests.conftest import NARROW, write_otb
from tests.test_cli import ROOT
from tracker.integrations.trax_guard import CHUNK, MAX_ARGUMENT, MAX_MESSAGE, MessageGuard, message_problem

try:
    import trax.client as trax_client
    from trax import TraxException
    from trax.image import FileImage
    from trax.region import Polygon, Rectangle
except ImportError:  # the round trips below skip; the missing-library case runs anyway
    trax_client = None
needs_trax = pytest.mark.skipif(trax_client is None, reason="vot-trax is not installed (pip install -e '.[vot]')")


@pytest.mark.slow
def test_without_vot_trax_the_server_says_how_to_get_it(tmp_path):
    """Google's unrelated ``trax`` package has no TraX server: it is taken for a missing library."""
    (tmp_path / "trax").mkdir()
    (tmp_path / "trax" / "__init__.py").write_text("")
    proc = subprocess.run([sys.executable, "-m", "tracker.integrations.vot", "--weights", "none"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("warning:")]
    assert proc.returncode == 2 and lines == ["error: bdfa-vot needs the TraX library of the VOT toolkit: "
                                              "pip install -e '.[vot]'"], proc.stderr


@pytest.fixture
def sequence(tmp_path):
    folder = write_otb(tmp_path / "Toy", n_frames=8)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
    frames = sorted((folder / "img").iterdir())
    first = np.loadtxt(folder / "groundtruth_rect.txt", delimiter=",")[0]
    return folder, frames, first, ["--weights", "none", "--config", str(config), "--seed", "3"]


class Server:
    """A ``bdfa-vot`` process with a TraX client on its stdin and stdout."""

    def __init__(self, args):
        self.proc = subprocess.Popen([sys.executable, "-m", "tracker.integrations.vot", *args], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # a log callback: vot-trax 4.0.2 fails to set up a client without one
        self.client = trax_client.Client(stream=(self.proc.stdin.fileno(), self.proc.stdout.fileno()),
                                         log=lambda message: None)

    def initialize(self, path, region):
        return self.client.initialize({"color": FileImage.create(str(path))}, [(region, {})], {})[0][0]

    def frame(self, path):
        return self.client.frame({"color": FileImage.create(str(path))}, {}, [])[0][0]

    def finish(self):
        """The server's exit code and its stderr lines (warnings apart)."""
        try:
            err = self.proc.communicate(timeout=60)[1].decode()
        finally:
            self.proc.kill()
        return self.proc.returncode, [line for line in err.splitlines() if not line.startswith("warning:")]


@needs_trax
@pytest.mark.slow
def test_every_frame_is_answered_with_run_tracker_boxes(sequence, tmp_path):
    folder, frames, first, args = sequence
    server = Server(args)
    assert server.client.tracker_name == "bdfa-tracker"
    region, properties = server.initialize(frames[0], Rectangle.create(*first))
    boxes = [region.bounds()]
    scores = []
    for path in frames[1:]:
        region, properties = server.frame(path)
        boxes.append(region.bounds())
        scores.append(float(properties["confidence"]))
    server.client.quit()
    assert server.finish() == (0, [])
    reference = tmp_path / "reference.txt"
    subprocess.run([sys.executable, str(ROOT / "run_tracker.py"), "--video", str(folder), *args, "--quiet",
                    "--output", str(reference)], check=True, cwd=ROOT, capture_output=True, timeout=300)
    np.testing.assert_allclose(np.array(boxes), np.loadtxt(reference, delimiter=","), atol=0.006)
    assert len(scores) == len(frames) - 1 and np.all(np.isfinite(scores))


@needs_trax
@pytest.mark.slow
def test_a_polygon_starts_from_its_bounding_rectangle(sequence):
    _, frames, first, args = sequence
    x, y, w, h = first
    server = Server(args)
    region, _ = server.initialize(frames[0], Polygon.create([(x, y), (x + w, y), (x + w, y + h), (x, y + h)]))
    server.client.quit()
    assert server.finish()[0] == 0
    np.testing.assert_allclose(region.bounds(), first, atol=1e-4)


@needs_trax
@pytest.mark.parametrize("case, fragment", [("image", "image not found: "), ("region", "is smaller than 1x1 px")])
@pytest.mark.slow
def test_a_bad_image_or_region_ends_the_session_cleanly_on_both_sides(sequence, tmp_path, case, fragment):
    _, frames, first, args = sequence
    server = Server(args)
    image = tmp_path / "absent.jpg" if case == "image" else frames[0]
    region = Rectangle.create(*first) if case == "image" else Rectangle.create(first[0], first[1], -5, 20)
    with pytest.raises(TraxException, match=f"Server terminated the session: .*{fragment}"):
        server.initialize(image, region)
    code, lines = server.finish()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


@pytest.mark.parametrize("line, problem", [
    (b'@@TRAX:frame "file:///a b.jpg"', None),
    (b'@@TRAX:frame "file:///a \\"quoted\\" b.jpg" key=value', None),
    (b'@@TRAX:initialize "file:///x.jpg', "never closed"),
    (b'@@TRAX:initialize "file:///x.jpg\\', "never closed"),
    (b'@@TRAX:frame "file:///\xff.jpg"', "not UTF-8"),
    (b'@@TRAX:frame "file:///a\x00.jpg"', "NUL"),
    (b'@@TRAX:frame "file:///' + b"a" * (MAX_ARGUMENT + 1) + b'"', "argument of more than"),
    (b"@@TRAX:frame " + b"a " * (MAX_MESSAGE // 2 + 1), "message of more than"),
])
def test_a_message_is_checked_before_the_library_reads_it(line, problem):
    found = message_problem(line)
    assert found is None if problem is None else problem in found


def guarded(data: bytes) -> tuple[bytes, str | None]:
    """What a MessageGuard passes on of ``data``, and why it stopped."""
    client_read, client_write = os.pipe()
    library_read, library_write = os.pipe()
    guard = MessageGuard(client_read, library_write).start()

    def client() -> None:
        try:
            with os.fdopen(client_write, "wb") as stream:
                stream.write(data)
        except BrokenPipeError:  # the guard stopped reading: what a client that keeps writing sees
            pass

    writer = threading.Thread(target=client)
    writer.start()
    with os.fdopen(library_read, "rb") as stream:
        passed = stream.read()
    guard.thread.join(timeout=10)
    os.close(client_read)
    writer.join(timeout=10)
    return passed, guard.problem


def test_the_guard_passes_whole_messages_and_stops_at_the_first_bad_one():
    good = b'@@TRAX:frame "file:///a.jpg"\n'
    assert guarded(b"some other output\n" + good + good) == (good + good, None)
    passed, problem = guarded(good + b'@@TRAX:frame "file:///b.jpg\n' + good)
    assert passed == good and "never closed" in problem
    passed, problem = guarded(good + b'@@TRAX:frame "file:///b.jpg"')  # no end of line: the input ended inside it
    assert passed == good and "ended inside" in problem
    passed, problem = guarded(good + b"x" * (MAX_MESSAGE + 2 * CHUNK))  # a line that never ends: bounded
    assert passed == good and "more than" in problem


@needs_trax
@pytest.mark.parametrize("data, fragment", [
    (b'@@TRAX:initialize "file:///x.jpg', "the client's input ended inside a TraX message"),
    (b'@@TRAX:initialize "file:///x.jpg\n', "never closed"),
    (b'@@TRAX:initialize "file:///\xff.jpg" "1,1,5,5"\n', "not UTF-8"),
    (b"@@TRAX:initialize " + b"9" * (MAX_MESSAGE + 10), "more than"),
])
@pytest.mark.slow
def test_a_hostile_message_ends_the_server_in_bounded_memory_with_one_line(sequence, data, fragment):
    """vot-trax's own reader allocated without bound on the first of these (22.8 GB): now the session ends
    within 6 GiB of address space (most of it torch's reservations), in seconds."""
    *_, args = sequence

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    proc = subprocess.run([sys.executable, "-m", "tracker.integrations.vot", *args], cwd=ROOT, input=data,
                          capture_output=True, timeout=120, preexec_fn=cap_memory)
    lines = [line for line in proc.stderr.decode().splitlines() if not line.startswith("warning:")]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


@needs_trax
@pytest.mark.slow
def test_a_frame_of_another_size_ends_the_session_instead_of_a_box_outside_it(sequence, tmp_path):
    import cv2

    _, frames, first, args = sequence
    smaller = tmp_path / "smaller.jpg"
    cv2.imwrite(str(smaller), cv2.imread(str(frames[1]))[::2, ::2])
    server = Server(args)
    server.initialize(frames[0], Rectangle.create(*first))
    with pytest.raises(TraxException, match="every frame of a sequence must have one size"):
        server.frame(smaller)
    code, lines = server.finish()
    assert code == 2 and len(lines) == 1 and "in a sequence that started at" in lines[0], lines


@needs_trax
@pytest.mark.parametrize("message, fragment", [
    (b'@@TRAX:frame "file:///tmp/\xff\xfe.jpg"\n', "not UTF-8"),
    (b'@@TRAX:frame "file:///' + b"a" * (20 << 20) + b'.jpg"\n', "more than"),
    (b'@@TRAX:frame "file:///tmp/\\xff\\xfe.jpg"\n', "image not found"),
    (b'@@TRAX:quit "' + b"q" * (MAX_MESSAGE + 10) + b'"\n', "more than"),
])
@pytest.mark.slow
def test_a_hostile_message_after_initialising_ends_the_session_with_one_line(sequence, message, fragment, tmp_path):
    """Every message goes through the guard, whatever its kind: a frame message with bytes that are not UTF-8,
    or 20 MB long, after a good initialisation (over a socket these grew the server to 3.2 GB and killed it).
    The client runs in a child process: vot-trax's client crashes in its finalizer once the server is gone."""
    _, frames, first, args = sequence
    (tmp_path / "message.bin").write_bytes(message)
    child = f"""
import json, os, sys
from trax.region import Rectangle
from tests.test_vot import Server
server = Server({args!r})
server.initialize({str(frames[0])!r}, Rectangle.create(*{first.tolist()!r}))
message = open({str(tmp_path / "message.bin")!r}, "rb").read()
try:
    while message:
        message = message[os.write(server.proc.stdin.fileno(), message):]
except BrokenPipeError:
    pass  # the server stopped reading at the bad message
err = server.proc.stderr.read().decode()
print(json.dumps([server.proc.wait(timeout=60), err]), flush=True)
os._exit(0)
"""
    done = subprocess.run([sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=180)
    code, err = json.loads(done.stdout.strip().splitlines()[-1])
    lines = [line for line in err.splitlines() if not line.startswith("warning:")]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], lines


@needs_trax
@pytest.mark.slow
def test_the_socket_transport_is_refused_in_one_line(sequence):
    *_, args = sequence
    proc = subprocess.run([sys.executable, "-m", "tracker.integrations.vot", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "TRAX_SOCKET": "43210"})
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("warning:")]
    assert proc.returncode == 2 and len(lines) == 1 and "TRAX_SOCKET" in lines[0], lines
