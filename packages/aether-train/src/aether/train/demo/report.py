"""The demo's self-contained HTML report: every image and video inlined as a data URI, so the one
file can be opened anywhere, mailed or archived."""

from __future__ import annotations

import base64
import html
import os
import subprocess
from importlib import metadata
from pathlib import Path
from urllib.parse import quote
from typing import Any

import numpy as np

from aether.core.atomic import atomic_path, write_text
from aether.train.demo.evaluate import METRICS, TASK_METRICS, model_wins

MIME = {".png": "image/png", ".mp4": "video/mp4"}
LABELS = {"abs_rel": "depth Abs Rel", "delta_1": "depth δ<1.25", "ate": "ATE", "rpe_trans": "RPE trans",
          "rpe_rot_deg": "RPE rot (deg)", "psnr": "PSNR (dB)", "ssim": "SSIM"}
BASELINES = {"reconstruction": "constant depth; static camera", "prediction": "repeat the observation frame",
             "planning": "repeat the observation frame"}
PACKAGES = ("aether-core", "aether-codecs", "aether-annotate", "aether-tasks", "aether-train", "torch")
VIEWER_POINTS = 12_000  # per clip: 15 bytes each, about 240 kB of base64
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.win{color:#070}.loss{color:#b00}
table.wrap{table-layout:fixed;width:100%}
.wrap td,.wrap th{overflow-wrap:anywhere;word-break:break-word;text-align:left}
figure{display:inline-block;margin:4px;vertical-align:top;max-width:100%}
figcaption{font-size:12px;text-align:center}img{max-width:100%;height:auto}
video,img{image-rendering:pixelated}canvas.points{border:1px solid #ccc;cursor:grab;touch-action:none}"""
# Orbit (drag) and zoom (wheel) around a point cloud drawn on a 2-D canvas with a depth buffer: no WebGL,
# no network. Each canvas.points carries base64 little-endian float32 xyz (OpenCV axes: x right, y down,
# z forward; centred, radius ~1) and uint8 rgb. At yaw = pitch = 0 the view is the first camera's.
VIEWER_JS = """(() => {
const bytes = s => Uint8Array.from(atob(s), c => c.charCodeAt(0));
for (const canvas of document.querySelectorAll("canvas.points")) {
  const xyz = new Float32Array(bytes(canvas.dataset.points).buffer), rgb = bytes(canvas.dataset.colours);
  const W = canvas.width, H = canvas.height, ctx = canvas.getContext("2d");
  const image = ctx.createImageData(W, H), depth = new Float32Array(W * H), f = 0.9 * Math.min(W, H);
  let yaw = -0.5, pitch = 0.35, distance = 2.8, drag = null;
  const draw = () => {
    image.data.fill(255); depth.fill(Infinity);
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    for (let i = 0; i < rgb.length / 3; i++) {
      const x = xyz[3 * i], y = xyz[3 * i + 1], z = xyz[3 * i + 2];
      const x1 = cy * x + sy * z, z1 = cy * z - sy * x;
      const y2 = cp * y - sp * z1, z2 = sp * y + cp * z1 + distance;
      if (z2 < 0.05) continue;
      const u = Math.round(W / 2 + f * x1 / z2), v = Math.round(H / 2 + f * y2 / z2);
      for (let k of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const uu = u + k[0], vv = v + k[1], at = vv * W + uu;
        if (uu < 0 || vv < 0 || uu >= W || vv >= H || z2 >= depth[at]) continue;
        depth[at] = z2; image.data.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]], 4 * at);
      }
    }
    ctx.putImageData(image, 0, 0);
  };
  canvas.onpointerdown = e => { drag = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); };
  canvas.onpointerup = () => { drag = null; };
  canvas.onpointermove = e => {
    if (!drag) return;
    yaw += 0.01 * (e.clientX - drag[0]);
    pitch = Math.max(-1.5, Math.min(1.5, pitch + 0.01 * (e.clientY - drag[1])));
    drag = [e.clientX, e.clientY]; draw();
  };
  canvas.onwheel = e => {
    e.preventDefault(); distance = Math.max(0.3, Math.min(20, distance * Math.exp(0.001 * e.deltaY))); draw();
  };
  draw();
}
})();"""


def data_uri(path: str | os.PathLike) -> str:
    path = Path(path)
    return f"data:{MIME[path.suffix]};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _figure(path: str | os.PathLike, caption: str, width: int) -> str:
    uri = data_uri(path)
    media = (f'<video src="{uri}" width="{width}" autoplay loop muted playsinline controls></video>'
             if Path(path).suffix == ".mp4" else f'<img src="{uri}" width="{width}" alt="{html.escape(caption)}">')
    return f"<figure>{media}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _png_width(path: str | os.PathLike) -> int:
    """Pixel width from a PNG's IHDR chunk."""
    return int.from_bytes(Path(path).read_bytes()[16:20], "big")


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _fmt(value) if value is None or isinstance(value, (int, float)) else html.escape(str(value))


def metrics_table(scores: dict[str, dict[str, dict[str, float]]]) -> str:
    """``{task: {"model"|"baseline": {metric: value}}}`` -> an HTML table marking each model win."""
    rows = ["<tr><th>task</th><th>metric</th><th>trained model</th><th>trivial baseline</th><th>better</th>"
            "<th>baseline</th></tr>"]
    for task, keys in TASK_METRICS.items():
        if task not in scores:
            continue
        wins = model_wins(scores[task])
        for key in keys:
            mark = '<span class="win">model ✓</span>' if wins[key] else '<span class="loss">baseline ✗</span>'
            arrow = "↑" if METRICS[key] else "↓"
            rows.append(f"<tr><td>{task}</td><td>{LABELS[key]} {arrow}</td><td>{_fmt(scores[task]['model'][key])}"
                        f"</td><td>{_fmt(scores[task]['baseline'][key])}</td><td>{mark}</td>"
                        f"<td>{BASELINES[task]}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


# readable headers of the annotation summary's keys (aether.annotate.evaluation)
ANNOTATION_LABELS = {"clips": "clips", "failed": "failed", "rot_err_deg": "rotation error (°)",
                     "ate_pct": "ATE (% of path)", "rpe_rot_deg": "RPE rotation (°)",
                     "focal_err_pct": "focal error (%)", "coverage": "frames covered",
                     "seconds_per_frame": "seconds per frame"}


def dict_table(rows: dict[str, dict[str, Any]], labels: dict[str, str] | None = None) -> str:
    """``{row: {column: value}}`` -> an HTML table as wide as the page whose cells wrap long values;
    ``labels`` renames column headers (a key without one is shown as it is)."""
    columns = list(dict.fromkeys(key for row in rows.values() for key in row))
    head = "<tr><th></th>" + "".join(f"<th>{html.escape((labels or {}).get(c, c))}</th>" for c in columns) + "</tr>"
    body = "".join(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns)
                   + "</tr>" for name, row in rows.items())
    return f'<table class="wrap">{head}{body}</table>'


def git_commit() -> str:
    """The commit of the checkout this code runs from, or "unknown" (an installed wheel, no git)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict[str, str]:
    """Versions of the AETHER packages and torch, and the git commit."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {**versions, "commit": git_commit()}


def _viewer_points(points: np.ndarray, colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most VIEWER_POINTS points of the central 96 % (far outliers would shrink the scene to a dot), as
    float32, centred and scaled to radius ~1."""
    if len(points) > VIEWER_POINTS:
        keep = np.random.default_rng(0).choice(len(points), VIEWER_POINTS, replace=False)
        points, colours = points[keep], colours[keep]
    points = np.asarray(points, np.float64)
    lo, hi = np.percentile(points, 2, axis=0), np.percentile(points, 98, axis=0)
    inside = np.all((points >= lo) & (points <= hi), axis=1)
    points = points[inside] - (lo + hi) / 2
    scale = max(float(np.abs(points).max(initial=0.0)), 1e-9)
    return (points / scale).astype("<f4"), np.asarray(colours[inside], np.uint8)


def point_viewer(points_npz: str | os.PathLike, caption: str, glb_href: str | None) -> str:
    """A canvas that VIEWER_JS turns into an interactive view of ``points_npz`` (``points`` (N, 3) OpenCV
    axes, ``colours`` (N, 3) uint8), the points inlined as base64; a link to the GLB when given."""
    with np.load(points_npz) as cloud:
        points, colours = _viewer_points(cloud["points"], cloud["colours"])
    b64 = {name: base64.b64encode(array.tobytes()).decode("ascii") for name, array in
           (("points", points), ("colours", colours))}
    link = f' · <a href="{html.escape(glb_href)}">GLB scene</a>' if glb_href else ""
    return (f'<figure><canvas class="points" width="520" height="420" data-points="{b64["points"]}" '
            f'data-colours="{b64["colours"]}"></canvas><figcaption>{html.escape(caption)} (drag to orbit, '
            f"wheel to zoom){link}</figcaption></figure>")


def plot_curves(path: str | os.PathLike, history: dict[str, list[tuple[int, float]]]) -> Path:
    """PNG of training losses: ``{name: [(step, loss), ...]}``, log scale, lightly smoothed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    for name, points in history.items():
        if not points:
            continue
        steps, values = np.asarray(points, np.float64).T
        window = max(1, len(values) // 25)
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, label=name)
    ax.set(xlabel="step", ylabel="loss", yscale="log", title="training loss (moving average)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def _clip_section(clip: dict[str, Any], report_dir: Path) -> list[str]:
    parts = [f"<h2>Held-out clip {html.escape(clip['name'])}</h2>"]
    parts += [_figure(p, caption, 288) for p, caption in clip["figures"]]
    parts.append("<br>")
    # plots at their own pixel size (capped at the page width by CSS): shrunk, their labels were unreadable
    parts += [_figure(p, caption, _png_width(p)) for p, caption in clip["plots"]]
    if clip.get("points"):
        glb = quote(Path(os.path.relpath(clip["scene"], report_dir)).as_posix()) if clip.get("scene") else None
        parts.append(point_viewer(clip["points"], "reconstructed point cloud", glb))
    parts.append(metrics_table(clip["scores"]))
    return parts


def write_report(path: str | os.PathLike, *, config: dict, stages: dict[str, dict], scores: dict,
                 annotation: dict[str, dict] | None, curves_png: str | os.PathLike | None,
                 clips: list[dict[str, Any]]) -> Path:
    """Write the report. ``clips``: per held-out clip ``{"name", "figures": [(path, caption)], "plots":
    [(path, caption)], "points": npz path or None, "scene": GLB path or None, "scores": {task: {...}}}``."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>AETHER demo</title><style>{STYLE}</style>"
             "</head><body><h1>AETHER demo report</h1>",
             "<p>A tiny AETHER trained on this machine on synthetic clips it rendered and annotated itself, "
             "evaluated on held-out clips next to trivial baselines measured on the same clips.</p>",
             "<h2>Held-out metrics (mean over clips)</h2>", metrics_table(scores)]
    if annotation:
        parts += ["<h2>Camera annotation of the training clips</h2>",
                  "<p>Our pipeline's cameras against the renderer's ground truth (median over clips).</p>",
                  dict_table(annotation, ANNOTATION_LABELS)]
    if curves_png:
        parts += ["<h2>Training</h2>", _figure(curves_png, "training loss", 700)]
    for clip in clips:
        parts += _clip_section(clip, Path(path).parent)
    parts += ["<h2>Run</h2>", dict_table({name: {k: v for k, v in info.items() if not isinstance(v, (dict, list))}
                                          for name, info in stages.items()}),
              "<h2>Settings</h2>", dict_table({key: {"value": value} for key, value in config.items()}),
              "<h2>Software</h2>", dict_table({key: {"version": value} for key, value in environment().items()}),
              f"<script>{VIEWER_JS}</script></body></html>"]
    return write_text(path, "\n".join(parts))
