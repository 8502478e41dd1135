"""Take the READMEs' screenshots from a finished demo: ``aether --help`` as a terminal shows it, the demo
report, and each tab of ``aether app`` after one run on the demo's model and a held-out clip.

    make demo && .venv/bin/python tools/screenshots.py [--demo demo-out] [--out docs/images] [--steps 10]

Needs Playwright (the train and tasks packages' test extras) and a Chromium (Debian's ``chromium``;
``.ci/run`` installs it). Writes ``cli-help.png``, ``cli-reconstruct-help.png``, ``demo-report.png`` (the
report's first screens: the whole page is several thousand pixels tall) and ``app-{reconstruct,predict,plan}.png``.
"""

from __future__ import annotations

import argparse
import html
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TERMINAL = """<!doctype html><meta charset="utf-8"><style>
body {{ margin: 0; background: #1e1e1e; }}
pre {{ display: inline-block; margin: 0; padding: 16px 20px; color: #d4d4d4;
       font: 14px/1.35 "DejaVu Sans Mono", monospace; }}
.prompt {{ color: #6a9955; }}
</style><pre><span class="prompt">$ {command}</span>
{text}</pre>"""
JOB_MS = 900_000  # one app job with the demo's model on a laptop CPU


def aether(*args: str) -> list[str]:
    return [sys.executable, "-m", "aether.core.cli", *args]


def help_page(args: list[str]) -> str:
    """The terminal page of ``aether ARGS``'s output, wrapped as argparse wraps it in a 100-column terminal."""
    out = subprocess.run(aether(*args), capture_output=True, text=True, check=True,
                         env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"})
    return TERMINAL.format(command=html.escape(" ".join(["aether", *args])), text=html.escape(out.stdout.rstrip()))


def shoot_cli(page, out: Path) -> None:
    for name, command in (("cli-help", ["--help"]), ("cli-reconstruct-help", ["reconstruct", "--help"])):
        page.set_content(help_page(command))
        page.locator("pre").screenshot(path=str(out / f"{name}.png"))
        print(out / f"{name}.png")


def shoot_report(page, report: Path, out: Path) -> None:
    page.set_viewport_size({"width": 1280, "height": 1800})
    page.goto(report.resolve().as_uri())
    page.wait_for_timeout(1000)  # the inlined point-cloud viewer draws its first frame
    page.screenshot(path=str(out / "demo-report.png"))
    print(out / "demo-report.png")


def serve(model: Path) -> tuple[subprocess.Popen, str]:
    """``aether app --model model`` on a free port, once it answers; the process and its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(aether("app", "--model", str(model), "--port", str(port)))
    url = f"http://127.0.0.1:{port}/"
    while process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return process, url
        except OSError:
            time.sleep(1)
    sys.exit(f"aether app exited with {process.returncode}")


def wait_for_scene(page, selector: str, seconds: float = 120.0) -> None:
    """Until the 3-D viewer at ``selector`` has drawn its points: software WebGL takes several seconds for a
    GLB of 100k points on a busy CPU."""
    import imageio.v3 as iio

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shot = iio.imread(page.locator(selector).screenshot(), extension=".png")
        if (shot[..., :3].mean(-1) < 200).mean() > 0.01:  # more than the panel's frame and label
            return
        page.wait_for_timeout(1000)
    print(f"warning: the 3-D view {selector} stayed blank for {seconds:g} s", file=sys.stderr)


def run_tab(page, tab: str, uploads: dict[str, Path], steps: int | None, out: Path) -> None:
    """Upload ``uploads`` (element id -> file) in ``tab``, run it (with ``steps``, else the release's) and shoot
    the whole page."""
    page.get_by_role("tab", name=tab.capitalize()).click()
    for element, path in uploads.items():
        page.locator(f"#{element} input[type=file]").set_input_files(path)
    if steps is not None:
        advanced = page.locator(f"#{tab}-advanced").get_by_text("Advanced")
        advanced.click()
        page.locator(f"#{tab}-steps input").fill(str(steps))
        advanced.click()  # closed again for the picture
    page.get_by_role("button", name=tab.capitalize()).click()
    page.locator(f"#{tab}-archive a[download]").first.wait_for(timeout=JOB_MS)
    wait_for_scene(page, f"#{tab}-scene")
    page.wait_for_timeout(2000)  # the videos draw their first frames
    page.screenshot(path=str(out / f"app-{tab}.png"), full_page=True)
    print(out / f"app-{tab}.png")


def shoot_app(browser, model: Path, video: Path, steps: int, out: Path) -> None:
    """The three tabs: the held-out ``video`` reconstructed; its first frame predicted from, and planned from
    to its last frame."""
    from aether.core.media import read_video, write_png

    frames, _ = read_video(video)
    with tempfile.TemporaryDirectory() as tmp:
        first, last = write_png(Path(tmp) / "first.png", frames[0]), write_png(Path(tmp) / "last.png", frames[-1])
        process, url = serve(model)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            page.goto(url)
            run_tab(page, "reconstruct", {"reconstruct-input": video}, None, out)
            run_tab(page, "predict", {"predict-image": first}, steps, out)
            run_tab(page, "plan", {"plan-observation": first, "plan-goal": last}, steps, out)
        finally:
            process.terminate()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("demo-out"), help="a finished `aether demo --out` folder")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--steps", type=int, default=10, help="denoising steps of the app's prediction and plan")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium on PATH: install Debian's `chromium` (as .ci/run does)")
    report, model = args.demo / "report.html", args.demo / "train" / "run" / "model"
    video = args.demo / "heldout" / "clip_0000" / "input.mp4"
    if not (report.is_file() and model.is_dir() and video.is_file()):
        sys.exit(f"{args.demo} is not a finished demo (report.html, train/run/model, heldout/): run `make demo`")
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 400}, device_scale_factor=1)
        shoot_cli(page, args.out)
        shoot_report(page, report, args.out)
        shoot_app(browser, model, video, args.steps, args.out)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
