"""The page: one tab a task (Reconstruct, Predict, Plan), each its inputs, an "Advanced" panel of the command's
settings at the release's defaults, and the same results: video, depth video, 3-D scene, trajectory plot and
a zip of every file. Every job goes through one queue, one at a time (the model's device is shared)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable, get_args

import gradio as gr
from pydantic import ValidationError

from aether.core.errors import AetherError, describe_validation
from aether.tasks.app.jobs import CameraChoice, CameraSource, JobOutput, LoadedModel, Settings
from aether.tasks.app.sessions import SessionFolders
from aether.tasks.commands import DEFAULT_FPS
from aether.tasks.trajectories import DEFAULT_DEGREES, DEFAULT_STEP, trajectory_names

log = logging.getLogger(__name__)
# the default theme loads Google Fonts; the page must work offline, so it uses the system's fonts
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "Consolas", "monospace"])
QUEUE = "model"  # the one queue every job waits in
VIDEO_TYPES = [".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif", ".zip"]
IMAGE = dict(type="filepath", format="png", sources=["upload", "clipboard"])


def page_message(text: str, root: Path) -> str:
    """A job's error or warning as the page shows it: the server's temporary folders left out of its paths
    (``/tmp/aether-app-x/gradio/3f2a/clip.mp4`` reads ``clip.mp4``)."""
    return re.sub(re.escape(str(root)) + r"/(?:[^/\s'\"]+/)*", "", text)


def _results(tab: str, video_label: str) -> list[gr.components.Component]:
    """The outputs every tab shows, their ids ``<tab>-video``, ``-depth``, ``-scene``, ``-plot``, ``-archive``."""
    with gr.Row():
        video = gr.Video(label=video_label, interactive=False, loop=True, elem_id=f"{tab}-video")
        depth = gr.Video(label="depth (disparity)", interactive=False, loop=True, elem_id=f"{tab}-depth")
    scene = gr.Model3D(label="3-D scene: points and cameras", display_mode="point_cloud", height=420,
                       elem_id=f"{tab}-scene")
    with gr.Row():
        plot = gr.Image(label="camera trajectory", type="filepath", interactive=False, elem_id=f"{tab}-plot")
        archive = gr.File(label="every output file (zip)", interactive=False, elem_id=f"{tab}-archive")
    return [video, depth, scene, plot, archive]


def _shown(output: JobOutput) -> list[str]:
    files = output.files
    return [str(files[key]) for key in ("rgb_video", "disparity_video", "scene_glb", "trajectory_plot")] + \
        [str(output.archive)]


def _advanced(tab: str, masking, fps: float | None, frames: int | None) -> dict[str, gr.components.Component]:
    """The settings panel (id ``<tab>-advanced``) at the release's defaults (``masking``'s steps and guidance),
    its fields by :class:`Settings` name (ids ``<tab>-<name>``); ``fps`` None: the video's, ``frames`` None: no
    frame count (reconstruction takes the video's)."""
    with gr.Accordion("Advanced", open=False, elem_id=f"{tab}-advanced"), gr.Row():
        fields = {"steps": gr.Number(masking.default_steps, label="steps", precision=0, minimum=1),
                  "guidance": gr.Number(masking.default_guidance, label="guidance (CFG weight; <= 1: off)",
                                        minimum=0),
                  "seed": gr.Number(0, label="seed", precision=0),
                  "fps": gr.Number(fps, minimum=0, label="fps the model is told" +
                                   (" (blank: the video's)" if fps is None else ""))}
        if frames is not None:
            fields["frames"] = gr.Number(frames, label="frames (8m + 1; an uploaded path has its own)",
                                         precision=0, minimum=9, step=8)
        fields["smooth"] = gr.Dropdown(["off", "rts", "released"], value="off",
                                       label="camera smoothing (rts: ours; released: the release demo's)")
    for name, field in fields.items():
        field.elem_id = f"{tab}-{name}"
    return fields


def _camera(tab: str, source: str) -> dict[str, gr.components.Component]:
    """The camera path's fields by :class:`CameraChoice` name (ids ``<tab>-<name>``)."""
    with gr.Group():
        fields = {"source": gr.Radio(list(get_args(CameraSource)), value=source, label="camera path")}
        with gr.Row():
            fields["motion"] = gr.Dropdown(trajectory_names(), value="forward", label="named motion")
            fields["speed"] = gr.Slider(0.25, 8, value=1, step=0.25, label="speed",
                                        info=f"1: {DEFAULT_STEP:g} units and {DEFAULT_DEGREES:g} degrees a frame")
        fields["file"] = gr.File(label="TUM file (.txt) or raymap (.npy)", file_types=[".txt", ".tum", ".npy"],
                                 height=150)
    for name, field in fields.items():
        field.elem_id = f"{tab}-{name}"
    return fields


def _values(data: dict, fields: dict[str, gr.components.Component]) -> dict:
    return {name: data[component] for name, component in fields.items()}


def build_page(model: LoadedModel, sessions: SessionFolders) -> gr.Blocks:
    """The app's Blocks on ``model`` (loaded once), its jobs in ``sessions``' folders, queued."""
    pipe = model.pipeline
    task = {name: pipe.registry.build("task_masking", name) for name in ("reconstruction", "prediction", "planning")}

    def run(request: gr.Request, job: Callable[[Path], JobOutput]) -> list[str]:
        """``job`` in a fresh job folder of the session; bad input ends in one line in the page."""
        try:
            output = job(sessions.new_job(request.session_hash))
        except (AetherError, OSError, ValidationError) as exc:  # bad input: the CLI's one line
            text = f"{exc.title}: {describe_validation(exc)}" if isinstance(exc, ValidationError) else str(exc)
            raise gr.Error(page_message(text, sessions.root), duration=None, print_exception=False) from None
        except Exception:  # a bug, not bad input: the log gets the traceback, the page one line
            log.exception("job failed")
            raise gr.Error("the job failed unexpectedly; the server's log has the details", duration=None,
                           print_exception=False) from None
        for warning in output.warnings:
            gr.Warning(page_message(warning, sessions.root))
        return _shown(output)

    with gr.Blocks(title="AETHER", analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.Markdown(f"# AETHER\nModel `{model.folder}` on {pipe.device}, {pipe.width}x{pipe.height} pixels. "
                    "Jobs run one at a time; a waiting job shows its place in the queue.")
        with gr.Tab("Reconstruct"):
            with gr.Row():
                video = gr.File(label="video: mp4, or a zip of frames", file_types=VIDEO_TYPES,
                                elem_id="reconstruct-input")
                with gr.Column():
                    recon = _advanced("reconstruct", task["reconstruction"], None, None)
                    button = gr.Button("Reconstruct", variant="primary")

            def reconstruct(data: dict, request: gr.Request, progress=gr.Progress(track_tqdm=True)) -> list[str]:
                settings = _values(data, recon)
                return run(request, lambda job: model.reconstruct(job, data[video], Settings(**settings)))

            button.click(reconstruct, {video, *recon.values()}, _results("reconstruct", "video (model size)"),
                         concurrency_id=QUEUE)
        with gr.Tab("Predict"):
            with gr.Row():
                image = gr.Image(label="image", elem_id="predict-image", **IMAGE)
                with gr.Column():
                    predict_camera = _camera("predict", "named motion")
                    predict_settings = _advanced("predict", task["prediction"], DEFAULT_FPS, pipe.default_frames)
                    button = gr.Button("Predict", variant="primary")

            def predict(data: dict, request: gr.Request, progress=gr.Progress(track_tqdm=True)) -> list[str]:
                camera, settings = _values(data, predict_camera), _values(data, predict_settings)
                return run(request, lambda job: model.predict(job, data[image], CameraChoice(**camera),
                                                              Settings(**settings)))

            button.click(predict, {image, *predict_camera.values(), *predict_settings.values()},
                         _results("predict", "predicted video"), concurrency_id=QUEUE)
        with gr.Tab("Plan"):
            with gr.Row():
                observation = gr.Image(label="observation", elem_id="plan-observation", **IMAGE)
                goal = gr.Image(label="goal", elem_id="plan-goal", **IMAGE)
                with gr.Column():
                    plan_camera = _camera("plan", "none")
                    plan_settings = _advanced("plan", task["planning"], DEFAULT_FPS, pipe.default_frames)
                    button = gr.Button("Plan", variant="primary")

            def plan(data: dict, request: gr.Request, progress=gr.Progress(track_tqdm=True)) -> list[str]:
                camera, settings = _values(data, plan_camera), _values(data, plan_settings)
                return run(request, lambda job: model.plan(job, data[observation], data[goal], CameraChoice(**camera),
                                                           Settings(**settings)))

            button.click(plan, {observation, goal, *plan_camera.values(), *plan_settings.values()},
                         _results("plan", "planned video"), concurrency_id=QUEUE)

        def end_session(request: gr.Request) -> None:
            sessions.end(request.session_hash)

        page.unload(end_session)
    return page.queue(default_concurrency_limit=1)
