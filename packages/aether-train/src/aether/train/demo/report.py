"""The demo's self-contained HTML report: every image and video inlined as a data URI, so the one
file can be opened anywhere, mailed or archived."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

import numpy as np

from aether.core.atomic import atomic_path, write_text
from aether.train.demo.evaluate import METRICS, TASK_METRICS, model_wins

MIME = {".png": "image/png", ".mp4": "video/mp4"}
LABELS = {"abs_rel": "depth Abs Rel", "delta_1": "depth δ<1.25", "ate": "ATE", "rpe_trans": "RPE trans",
          "rpe_rot_deg": "RPE rot (deg)", "psnr": "PSNR (dB)", "ssim": "SSIM"}
BASELINES = {"reconstruction": "constant depth; static camera", "prediction": "repeat the observation frame",
             "planning": "repeat the observation frame"}
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.win{color:#070}.loss{color:#b00}
figure{display:inline-block;margin:4px;vertical-align:top}figcaption{font-size:12px;text-align:center}
video,img{image-rendering:pixelated}"""


def data_uri(path: str | os.PathLike) -> str:
    path = Path(path)
    return f"data:{MIME[path.suffix]};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _figure(path: str | os.PathLike, caption: str, width: int) -> str:
    uri = data_uri(path)
    media = (f'<video src="{uri}" width="{width}" autoplay loop muted playsinline controls></video>'
             if Path(path).suffix == ".mp4" else f'<img src="{uri}" width="{width}" alt="{html.escape(caption)}">')
    return f"<figure>{media}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _cell(value: Any) -> str:
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


def dict_table(rows: dict[str, dict[str, Any]]) -> str:
    """``{row: {column: value}}`` -> an HTML table."""
    columns = list(dict.fromkeys(key for row in rows.values() for key in row))
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
    body = "".join(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns)
                   + "</tr>" for name, row in rows.items())
    return f"<table>{head}{body}</table>"


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


def plot_point_cloud(path: str | os.PathLike, points: np.ndarray, colours: np.ndarray, max_points: int = 20000
                     ) -> Path:
    """PNG preview of a point cloud ``(N, 3)`` (OpenCV axes, first camera at the origin) with colours
    ``(N, 3)`` uint8: an oblique view from behind and above the first camera."""
    from matplotlib.figure import Figure

    if len(points) > max_points:
        keep = np.random.default_rng(0).choice(len(points), max_points, replace=False)
        points, colours = points[keep], colours[keep]
    # far outliers (sky, a badly fitted frame) would shrink the scene to a dot: frame the central 96 %
    lo, hi = np.percentile(points, 2, axis=0), np.percentile(points, 98, axis=0)
    inside = np.all((points >= lo) & (points <= hi), axis=1)
    points, colours = points[inside], colours[inside]
    fig = Figure(figsize=(4.5, 4), dpi=100)
    ax = fig.add_subplot(1, 1, 1, projection="3d")
    # x right, z forward, -y up in the plot
    ax.scatter(points[:, 0], points[:, 2], -points[:, 1], c=colours / 255.0, s=1, depthshade=False)
    ax.scatter([0], [0], [0], c="k", marker="^", s=40)
    ax.view_init(elev=25, azim=-110)
    ax.set(xlabel="x", ylabel="z (forward)", zlabel="up", title="point cloud (reconstruction)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def write_report(path: str | os.PathLike, *, config: dict, stages: dict[str, dict], scores: dict,
                 annotation: dict[str, dict] | None, curves_png: str | os.PathLike | None,
                 clips: list[dict[str, Any]]) -> Path:
    """Write the report. ``clips``: per held-out clip ``{"name", "figures": [(path, caption)], "plots":
    [(path, caption)], "scores": {task: {...}}}``."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>AETHER demo</title><style>{STYLE}</style>"
             "</head><body><h1>AETHER demo report</h1>",
             "<p>A tiny AETHER trained on this machine on synthetic clips it rendered and annotated itself, "
             "evaluated on held-out clips next to trivial baselines measured on the same clips.</p>",
             "<h2>Held-out metrics (mean over clips)</h2>", metrics_table(scores)]
    if annotation:
        parts += ["<h2>Camera annotation of the training clips</h2>",
                  "<p>Our pipeline's cameras against the renderer's ground truth (median over clips).</p>",
                  dict_table(annotation)]
    if curves_png:
        parts += ["<h2>Training</h2>", _figure(curves_png, "training loss", 700)]
    for clip in clips:
        parts.append(f"<h2>Held-out clip {html.escape(clip['name'])}</h2>")
        parts += [_figure(p, caption, 288) for p, caption in clip["figures"]]
        parts.append("<br>")
        parts += [_figure(p, caption, 520 if "trajectory" in caption else 360) for p, caption in clip["plots"]]
        parts.append(metrics_table(clip["scores"]))
    parts += ["<h2>Run</h2>", dict_table({name: {k: v for k, v in info.items() if not isinstance(v, (dict, list))}
                                          for name, info in stages.items()}),
              "<h2>Settings</h2>", dict_table({"demo": config}), "</body></html>"]
    return write_text(path, "\n".join(parts))
