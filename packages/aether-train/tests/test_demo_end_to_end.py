"""`aether demo` end to end on a very small budget: every stage's output, the report in headless
Chromium (images and videos load), and resuming instead of starting over."""

import json
import shutil

import numpy as np
import pytest
from aether.core.cli import main
from aether.core.clip import load_clip
from aether.train.demo.config import DemoConfig
from aether.train.demo.run import run_demo

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SMALL = DemoConfig(minutes=0.1, train_clips=3, clip_frames=13, heldout_clips=1, frames=9, sample_steps=2,
                   progress=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    lines: list[str] = []
    report = run_demo(out, SMALL, log=lines.append)
    return out, report, lines


def test_training_clips_must_hold_a_window():
    with pytest.raises(ValueError, match="clip_frames \\(9\\) must be at least frames \\(17\\)"):
        DemoConfig(clip_frames=9, frames=17)


def test_every_stage_leaves_its_outputs(demo):
    out, report, lines = demo
    assert [line for line in lines if line.endswith("running")] == [
        f"[{stage}] running" for stage in ("data", "annotate", "train", "heldout")]
    assert len(list((out / "data" / "train").glob("*.safetensors"))) == 3
    # training clips are longer than a window (windows vary); a held-out clip is one window of a clip
    # rendered the same way, so both see the same camera motion
    assert load_clip(out / "data" / "train" / "clip_0000.safetensors").num_frames == 13
    full = load_clip(out / "data" / "heldout-full" / "clip_0000.safetensors")
    held = load_clip(out / "data" / "heldout" / "clip_0000.safetensors")
    assert full.num_frames == 13 and held.num_frames == 9
    starts = [s for s in range(5) if np.array_equal(full.rgb[s:s + 9], held.rgb)]
    assert len(starts) == 1 and np.array_equal(full.c2w[starts[0]:starts[0] + 9], held.c2w)
    annotate = json.loads((out / "annotate" / "stage.json").read_text())
    assert set(annotate["clips"]) == {"clip_0000", "clip_0001", "clip_0002"}
    train = json.loads((out / "train" / "stage.json").read_text())
    assert (out / "train" / train["model"] / "transformer" / "config.json").is_file()
    heldout = json.loads((out / "heldout" / "stage.json").read_text())
    assert set(heldout["scores"]) == {"reconstruction", "prediction", "planning"}
    for task in ("reconstruction", "prediction", "planning"):
        manifest = json.loads((out / "heldout" / "clip_0000" / task / "result.json").read_text())
        assert manifest["num_frames"] == SMALL.frames and (manifest["height"], manifest["width"]) == (64, 96)
    html = report.read_text()
    assert html.count("<video") == 4 and "data:video/mp4;base64," in html and "trivial baseline" in html


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(demo, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    _, report, _ = demo
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(report.resolve().as_uri())
            page.wait_for_function("Array.from(document.querySelectorAll('video'))"
                                   ".every(v => v.readyState >= 1 || v.error)", timeout=30_000)
            videos = page.evaluate("Array.from(document.querySelectorAll('video'))"
                                   ".map(v => [v.readyState, v.videoWidth, v.error && v.error.code])")
            images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert len(videos) == 4 and all(state >= 1 and width == 96 and error is None for state, width, error in videos)
    assert len(images) >= 2 and all(done and width > 0 for done, width in images)
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_running_again_reuses_finished_stages(demo):
    out, report, _ = demo
    scores = (out / "heldout" / "clip_0000" / "scores.json").stat().st_mtime_ns
    (out / "heldout" / "stage.json").unlink()  # as if interrupted after the clip, before the stage ended
    orphan = out / "heldout" / ".stage.abcd1234.tmp.json"  # what it was writing when killed
    orphan.write_text("{")
    lines: list[str] = []
    assert run_demo(out, SMALL, log=lines.append) == report
    assert not orphan.exists()
    assert [line for line in lines if line.endswith("running")] == ["[heldout] running"]
    assert (out / "heldout" / "clip_0000" / "scores.json").stat().st_mtime_ns == scores  # not recomputed


def test_bad_option_is_a_one_line_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "o"), "--minutes", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--minutes" in err[0]
