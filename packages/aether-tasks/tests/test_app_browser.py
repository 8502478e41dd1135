"""`aether app` in headless Chromium against the tiny model: a reconstruction shows the 3-D viewer and offers
the outputs as one zip, a prediction along a named motion shows its video, bad uploads get a message in the
page while the server keeps serving, and the page asks no host but the server for anything."""

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from aether.core.testing.tiny_model import write_tiny_model

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (.ci/run installs it)")]
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("gradio")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
JOB_MS = 180_000  # how long a job may take on a slow, shared CI machine before a test gives up


def ffmpeg(*args) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", *map(str, args)], check=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_served(url: str, server: subprocess.Popen, log: Path) -> None:
    for _ in range(600):
        if server.poll() is not None:
            pytest.fail(f"aether app exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"aether app did not answer at {url}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``aether app`` on the tiny model, as a user starts it; its URL. Stopped, it leaves no temporary files."""
    folder = tmp_path_factory.mktemp("app")
    model, temp = write_tiny_model(folder / "model"), folder / "tmp"
    temp.mkdir()
    port = _free_port()
    url, log = f"http://127.0.0.1:{port}/", folder / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "aether.core.cli", "app", "--model", str(model),
                                    "--port", str(port), "--device", "cpu"], stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "TMPDIR": str(temp)})
    try:
        _wait_until_served(url, process, log)
        assert [p.name[:11] for p in temp.iterdir()] == ["aether-app-"]  # sessions and uploads in one folder
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert list(temp.iterdir()) == [], log.read_text()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(server, browser):
    """The app's page; after the test, every request it made must have gone to the server."""
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.set_default_timeout(JOB_MS)  # Playwright's 30 s is short for a page on 2 cores busy with other tests
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(server)
    page.get_by_role("button", name="Reconstruct").wait_for()
    yield page
    page.close()
    elsewhere = [url for url in requests if not url.removeprefix("blob:").startswith((server, "data:"))]
    assert requests and not elsewhere  # offline: no CDN, fonts, analytics or version check


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=12", "-frames:v", 9, "-pix_fmt", "yuv420p", path)
    return path


def _upload(page, element: str, path: Path) -> None:
    """Put ``path`` into the upload field ``#element`` of the first tab. On a busy machine a page still settling
    after its load can drop the file or leave its upload hanging (seen about once in five runs beside a CPU
    hog); a reloaded page, a new session, then takes it."""
    for attempt in range(3):
        field = page.locator(f"#{element}")
        field.locator("input[type=file]").set_input_files(path)
        try:
            return field.get_by_text(path.name).wait_for(timeout=60_000)
        except sync_api.TimeoutError:
            if attempt == 2:
                raise
            page.reload()
            page.get_by_role("button", name="Reconstruct").wait_for()


def _fetch(page, link) -> bytes:
    return page.request.get(link.get_attribute("href")).body()


def test_reconstruction_shows_the_3d_view_and_offers_the_outputs_as_a_zip(page, clip):
    _upload(page, "reconstruct-input", clip)
    page.get_by_role("button", name="Reconstruct").click()
    link = page.locator("#reconstruct-archive a[download]").first
    link.wait_for(timeout=JOB_MS)
    # the GLB in Gradio's 3-D viewer, which may draw its canvas a moment after the outputs' links appear
    sync_api.expect(page.locator("#reconstruct-scene canvas")).to_be_visible(timeout=30_000)
    assert page.locator("#reconstruct-depth video").count() == 1
    with zipfile.ZipFile(io.BytesIO(_fetch(page, link))) as archive:
        assert {"result.json", "result_scene.glb", "result_depth.npy", "result_disparity.mp4"} <= \
            set(archive.namelist())
        assert np.load(io.BytesIO(archive.read("result_depth.npy"))).shape == (9, 32, 48)


def test_prediction_along_a_named_motion_shows_its_video(page, tmp_path):
    image = tmp_path / "first.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64", "-frames:v", 1, image)
    page.get_by_role("tab", name="Predict").click()
    page.locator("#predict-image input[type=file]").set_input_files(image)
    page.locator("#predict-advanced").get_by_text("Advanced").click()
    page.locator("#predict-steps input").fill("2")
    page.get_by_role("button", name="Predict").click()
    page.locator("#predict-archive a[download]").first.wait_for(timeout=JOB_MS)
    assert page.locator("#predict-video video").count() == 1 and page.locator("#predict-depth video").count() == 1
    with zipfile.ZipFile(io.BytesIO(_fetch(page, page.locator("#predict-archive a[download]").first))) as archive:
        assert "camera_path.txt" in archive.namelist()  # the named motion, as a TUM file


def test_bad_uploads_get_a_message_and_the_server_keeps_serving(page, clip, tmp_path):
    broken, short = tmp_path / "broken.mp4", tmp_path / "short.mp4"
    broken.write_bytes(b"this is no video")
    ffmpeg("-i", clip, "-frames:v", 5, short)
    _upload(page, "reconstruct-input", broken)
    page.get_by_role("button", name="Reconstruct").click()
    page.get_by_text("broken.mp4: cannot").wait_for(timeout=JOB_MS)  # read_video's message
    page.reload()  # a new session on the same server
    page.get_by_role("button", name="Reconstruct").wait_for()
    _upload(page, "reconstruct-input", short)
    page.get_by_role("button", name="Reconstruct").click()
    page.get_by_text("video has 5 frames; reconstruction needs at least 9").wait_for(timeout=JOB_MS)
    assert page.get_by_text("Traceback").count() == 0
