"""The demo's HTML report built from small fake inputs: booleans, wrapping tables, a readable trajectory
plot, versions and commit, and an offline interactive point-cloud viewer (in headless Chromium if there)."""

import base64
import re
import shutil
import subprocess

import numpy as np
import pytest
from aether.tasks.outputs import plot_trajectory
from aether.train.demo import report as report_module
from aether.train.demo.config import DemoConfig
from aether.train.demo.report import PACKAGES, STYLE, dict_table, environment, git_commit, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LONG = "a_very_long_unbroken_value_" * 20


@pytest.fixture
def report(tmp_path):
    c2w = np.tile(np.eye(4), (5, 1, 1))
    c2w[:, 0, 3] = np.linspace(0, 1, 5)
    plot = plot_trajectory(tmp_path / "clip" / "trajectory.png", c2w, c2w)
    rng = np.random.default_rng(0)
    points = rng.normal(size=(30_000, 3)).astype(np.float32) + [0, 0, 4]
    np.savez(tmp_path / "clip" / "points.npz", points=points, colours=rng.integers(0, 256, (30_000, 3), np.uint8))
    (tmp_path / "clip" / "scene.glb").write_bytes(b"glTF")
    clip = {"name": "clip_0000", "figures": [], "plots": [(plot, "reconstructed trajectory vs ground truth")],
            "points": tmp_path / "clip" / "points.npz", "scene": tmp_path / "clip" / "scene.glb", "scores": {}}
    stages = {"train": {"finished": True, "reused": False, "steps": 3}}
    config = {**DemoConfig(progress=False).model_dump(), "note": LONG}
    return write_report(tmp_path / "report.html", config=config, stages=stages, scores={}, annotation=None,
                        curves_png=None, clips=[clip])


def _section(html: str, title: str) -> str:
    return html.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0].strip()


def test_booleans_read_yes_and_no(report):
    table = dict_table({"train": {"finished": True, "reused": False, "steps": 3}})
    assert "<td>yes</td><td>no</td><td>3</td>" in table
    html = report.read_text()
    assert "<tr><td>progress</td><td>no</td></tr>" in _section(html, "Settings")
    assert "<tr><td>annotate</td><td>yes</td></tr>" in _section(html, "Settings")


def test_settings_wrap_long_values(report):
    assert "table.wrap{table-layout:fixed;width:100%}" in STYLE and "overflow-wrap:anywhere" in STYLE
    settings = _section(report.read_text(), "Settings")
    assert settings.startswith('<table class="wrap">')
    assert f"<tr><td>note</td><td>{LONG}</td></tr>" in settings  # one setting a row, its value in a wrapping cell


def test_trajectory_plot_is_shown_at_its_own_size(report):
    width = int(re.search(r'<img src="data:image/png;base64,[^"]+" width="(\d+)" alt="reconstructed trajectory',
                          report.read_text()).group(1))
    assert width == 1000  # plot_trajectory's 10 in at 100 dpi, no longer shrunk to 520 px


def test_versions_and_commit_are_listed(report):
    env = environment()
    assert list(env) == [*PACKAGES, "commit"] and env["aether-train"] != "not installed"
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", env["commit"])
    software = _section(report.read_text(), "Software")
    for name, version in env.items():
        assert f"<tr><td>{name}</td><td>{version}</td></tr>" in software


def test_commit_is_unknown_without_git(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(report_module.subprocess, "run", no_git)
    assert git_commit() == "unknown"
    monkeypatch.setattr(report_module.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(
        subprocess.CalledProcessError(128, "git")))
    assert git_commit() == "unknown"


def test_point_cloud_viewer_is_inlined_and_offline(report):
    html = report.read_text()
    assert not re.search(r"https?://", html) and "<img" in html and "points.png" not in html
    points = np.frombuffer(base64.b64decode(re.search(r'data-points="([^"]+)"', html).group(1)), "<f4")
    colours = base64.b64decode(re.search(r'data-colours="([^"]+)"', html).group(1))
    assert 10_000 < len(colours) // 3 <= report_module.VIEWER_POINTS and points.size == len(colours)
    assert np.abs(points).max() == pytest.approx(1.0)
    assert '<a href="clip/scene.glb">GLB scene</a>' in html and "<script>(() => {" in html


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (.ci/run installs it)")
def test_viewer_draws_and_orbits_in_headless_chromium(report):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(report.resolve().as_uri())
            drawn = "(() => { const c = document.querySelector('canvas.points'); return Array.from(" \
                    "c.getContext('2d').getImageData(0, 0, c.width, c.height).data).join(','); })()"
            before = page.evaluate(drawn)
            canvas = page.locator("canvas.points")
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + 100, box["y"] + 100)
            page.mouse.down()
            page.mouse.move(box["x"] + 250, box["y"] + 150, steps=5)
            page.mouse.up()
            after = page.evaluate(drawn)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        finally:
            browser.close()
    pixels = np.array(before.split(","), np.uint8).reshape(-1, 4)
    assert not errors and (pixels[:, :3] < 250).any(axis=1).mean() > 0.05  # points were drawn
    assert after != before  # dragging orbits the view
    assert overflow <= 0  # the long setting wraps instead of widening the page


def test_annotation_table_names_every_summary_column(tmp_path):
    from aether.annotate.evaluation import SUMMARY_KEYS

    row = {"clips": 3, "failed": 0, **{key: 0.5 for key in SUMMARY_KEYS}}
    html = write_report(tmp_path / "report.html", config={}, stages={}, scores={}, annotation={"ours": row},
                        curves_png=None, clips=[]).read_text()
    header = _section(html, "Camera annotation of the training clips").split("</tr>", 1)[0]
    assert "<th>ATE (% of path)</th>" in header and "<th>seconds per frame</th>" in header
    assert not any(f"<th>{key}</th>" in header for key in SUMMARY_KEYS if "_" in key), header  # no snake_case left
