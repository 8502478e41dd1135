"""CLI commands ``aether reconstruct``, ``aether predict`` and ``aether plan``.

Each ``<name>_command(parser)`` adds its arguments and returns ``run(args) -> int``; heavy
imports happen inside ``run``. Every input (the output folder first) is checked before the slow
model load, so a bad one fails in seconds, not after the compute.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from aether.core.cli_help import examples
from aether.core.cli_options import add_plugin_option, add_progress_option
from aether.core.dtypes import DTYPES, dtype_name
from aether.tasks.trajectories import trajectory_names

if TYPE_CHECKING:  # the module stays light: `aether --help` lists these commands
    from aether.tasks.pipeline import AetherPipeline

DEFAULT_FPS = 12.0  # what prediction and planning tell the model without --fps


def _add_common(parser: argparse.ArgumentParser, default_steps: str) -> None:
    parser.add_argument("--model", required=True, type=Path,
                        help="model folder (transformer/, vae/, scheduler/)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--name", default="result", help="file name stem of the outputs (default: result)")
    parser.add_argument("--steps", type=int, help=f"denoising steps (default: {default_steps})")
    parser.add_argument("--guidance", type=float, help="CFG weight; <= 1 turns CFG off (default: the task's)")
    parser.add_argument("--no-dynamic-cfg", dest="dynamic_cfg", action="store_const", const=False,
                        help="use a constant CFG weight instead of the released dynamic one")
    parser.add_argument("--scheduler", choices=("dpm", "ddim"), default="dpm",
                        help="sampler: CogVideoX's DPM-Solver (the release) or DDIM")
    parser.add_argument("--seed", type=int, default=0, help="seed of each pass's generator, drawn from in the "
                        "release's order: VAE posterior samples of the colour conditions, then the noise")
    parser.add_argument("--posterior-mode", dest="posterior", action="store_const", const="mode", default="sample",
                        help="encode colour conditions as the VAE posterior's mode instead of a seeded sample")
    parser.add_argument("--dtype", type=dtype_name, choices=DTYPES, default="fp32",
                        help="model dtype (float32, bfloat16, float16 are accepted too)")
    parser.add_argument("--fp32-latents", dest="latents", action="store_const", const="float32", default="model",
                        help="hold the latents and noise in float32 between steps (default: in --dtype, as the "
                             "release; a bf16 run then gives the release's sample)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    add_plugin_option(parser, "--attention", "attention_backend", default="sdpa",
                      help="attention backend of the transformer (see `aether plugins --kind attention_backend`)")
    add_progress_option(parser)
    parser.add_argument("--fps", type=float,
                        help=f"frame rate the model is told (default: the video's, else {DEFAULT_FPS:g})")
    parser.add_argument("--smooth", nargs="?", const="rts", choices=("rts", "released"),
                        help="smooth the cameras: rts (a bare --smooth), a constant-velocity Kalman filter and RTS "
                             "smoother on positions and on rotation vectors; released, the release demo's "
                             "smoothing, always on there (default: off)")
    add_cameras_option(parser)


def add_cameras_option(parser: argparse.ArgumentParser) -> None:
    """``--cameras``: how :func:`pipeline_for` has the action encoder read cameras from a raymap."""
    parser.add_argument("--cameras", choices=("lstsq", "released"), default="lstsq",
                        help="how cameras are read from the generated raymap: a least-squares fit of rotation, "
                             "focals and principal point, or the release's heuristic (one focal, centred); "
                             "`--cameras released --smooth released` gives the release demo's cameras")


def _add_trajectory(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--trajectory", type=Path, help="camera trajectory as a TUM file (one pose per frame)")
    group.add_argument("--raymap", type=Path, help="released-format raymap .npy of shape (F, 6, H/8, W/8)")
    group.add_argument("--named", choices=trajectory_names(), help="a named trajectory")
    parser.add_argument("--frames", type=int, help="frames to generate, 4k + 1 (default: the trajectory's "
                                                    "length, else the model's)")
    parser.add_argument("--fov", type=float, default=60.0, help="horizontal field of view in degrees of a "
                                                                "--trajectory / --named path (default: 60)")
    parser.add_argument("--post-reconstruction", choices=("rgb", "latents"), default="rgb",
                        help="depth and cameras from the generated video decoded to RGB and re-encoded (rgb, the "
                             "release) or from its colour latents directly (latents: one VAE encode fewer)")
    add_scale_options(parser)


def add_scale_options(parser: argparse.ArgumentParser, after_the_fact: bool = False) -> None:
    """Metric-scale options (docs/CAMERAS.md); ``after_the_fact`` adds those read off a reconstruction."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--scene-depth", type=float, metavar="D",
                       help="distance of the nearest surface in metres (or the path's units): p_max = 1/D; an "
                            "action is scaled as training scaled it, depth and cameras come back in metres")
    group.add_argument("--p-max", type=float, help="the clip's largest disparity (1/metres), instead of --scene-depth")
    if after_the_fact:
        group.add_argument("--known-baseline", nargs=3, metavar=("I", "J", "METRES"),
                           help="the distance in metres between the cameras of frames I and J sets the scale")
        group.add_argument("--known-depth", nargs=2, metavar=("FRAME", "DEPTH_NPY"),
                           help="metric depth (H, W) .npy of one frame (metres, 0 = invalid) sets the scale")


def scale_config(args: argparse.Namespace):
    """The :class:`ScaleConfig` of :func:`add_scale_options`' options (validated before the model load)."""
    from aether.tasks.scale import ScaleConfig

    frame, depth_file = getattr(args, "known_depth", None) or (0, None)
    return ScaleConfig(scene_depth=args.scene_depth, p_max=args.p_max, baseline=getattr(args, "known_baseline", None),
                       depth_file=depth_file, depth_frame=frame)


def _warn(lines: list[str]) -> None:
    import sys

    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


def _config(args: argparse.Namespace):
    from aether.tasks.sampling import SamplingConfig

    return SamplingConfig(steps=args.steps, guidance=args.guidance, dynamic_cfg=args.dynamic_cfg,
                          scheduler=args.scheduler, seed=args.seed, posterior=args.posterior, latents=args.latents,
                          progress=args.progress)


def _start(args: argparse.Namespace):
    """The sampling settings, after checking what needs no input file: the output folder and the settings."""
    from aether.tasks.outputs import prepare_output_dir

    prepare_output_dir(args.out, args.name)
    return _config(args)


def _fps(args: argparse.Namespace, default: float, source: str) -> float:
    """``--fps``, else ``default`` (the frame rate of ``source``), checked."""
    from aether.core.media import check_fps

    return check_fps(default, source) if args.fps is None else check_fps(args.fps, "--fps")


def pipeline_for(args: argparse.Namespace) -> AetherPipeline:
    """The pipeline of a model command's ``--model``, ``--dtype``, ``--device`` and ``--attention``, or
    ``args.pipeline`` when one is already loaded (`aether app` loads the model once and runs these commands)."""
    from aether.tasks.pipeline import AetherPipeline, TaskInputError

    # the release fits each frame on its own: no intrinsics shared over the clip
    action_options = {"method": "released", "shared_intrinsics": False} if args.cameras == "released" else {}
    if getattr(args, "pipeline", None) is not None:
        if action_options:
            raise TaskInputError("--cameras released needs the model loaded with it; this pipeline is loaded already")
        return args.pipeline
    from aether.core.attention import build_attention_processor, install_attention_processor

    # built first, so that a backend this machine cannot run (no xformers, no CUDA) fails before the slow load
    processor = build_attention_processor(args.attention)
    pipe = AetherPipeline.from_pretrained(args.model, dtype=args.dtype, device=args.device,
                                          action_options=action_options)
    install_attention_processor(pipe.backbone.transformer, processor)
    return pipe


def _read_image(path: Path):
    from aether.core.errors import ClipError
    from aether.core.media import read_rgb

    if not path.is_file():
        raise ClipError(f"{path}: no such image file")
    return read_rgb(path)


def _read_trajectory(args: argparse.Namespace):
    """``--raymap`` as an array or ``--trajectory`` as ``c2w (F, 4, 4)``, read and checked before
    the (slow) model load; None if neither is given. ``--frames`` is checked too."""
    import numpy as np

    from aether.tasks.pipeline import TaskInputError, check_frame_count

    if args.frames is not None:
        check_frame_count(args.frames, "--frames")
    path = args.raymap or args.trajectory
    if path is None:
        return None
    if not path.is_file():
        raise TaskInputError(f"{path}: no such file")
    if args.raymap is not None:
        from aether.core.media import read_array

        data = read_array(path)
        if data.ndim != 4 or data.shape[1] != 6:
            raise TaskInputError(f"{path}: a raymap has shape (F, 6, H/8, W/8), got {data.shape}")
        if not np.issubdtype(data.dtype, np.floating):
            raise TaskInputError(f"{path}: a raymap holds floats, got {data.dtype}; write it as float32")
        if not np.isfinite(data).all():
            raise TaskInputError(f"{path}: the raymap holds {int((~np.isfinite(data)).sum())} NaN or "
                                 "infinite values")
    else:  # the camera tools' reader: its timestamps must increase, as the poses are taken in file order
        from aether.tasks.camera_paths import read_camera_path

        data = read_camera_path(path, "tum").c2w
    if args.frames is not None and len(data) != args.frames:
        raise TaskInputError(f"{path} has {len(data)} frames but --frames is {args.frames}; "
                             "give one pose per generated frame")
    check_frame_count(len(data), str(path))
    return data


def _action(args: argparse.Namespace, pipe, trajectory, scale):
    """The packed action ``(1, T, 24, h, w)`` of the trajectory options, or None; warns when its motion
    will not show (or is implausibly large) at the scale given."""
    import numpy as np

    from aether.tasks.motion import describe_motion
    from aether.tasks.pipeline import default_intrinsics

    if args.raymap is not None:
        import torch

        from aether.codecs.raymap import decode

        action = pipe.action_from_raymap(trajectory)  # checks the raymap's size
        # a raymap's translations are in units of the nearest depth already (its p_max is applied)
        c2w, K = decode(torch.from_numpy(np.asarray(trajectory, np.float64)), pipe.height, pipe.width)
        _warn(describe_motion(c2w.numpy(), K.numpy(), pipe.height, pipe.width).warnings())
        return action
    if args.named is not None:
        from aether.tasks.trajectories import named_trajectory

        trajectory = named_trajectory(args.named, args.frames or pipe.default_frames)
    if trajectory is None:
        return None
    K, p_max = default_intrinsics(len(trajectory), pipe.height, pipe.width, args.fov), scale.prior_p_max()
    c2w = np.linalg.inv(trajectory[0]) @ trajectory
    _warn(describe_motion(c2w, K, pipe.height, pipe.width, p_max or 1.0).warnings())
    return pipe.action_from_cameras(trajectory, K, p_max)


def _write(result, args: argparse.Namespace, scale) -> int:
    """Write ``result`` (smoothed with ``--smooth``; in metres when ``scale`` knows how), print the manifest."""
    import sys

    from aether.tasks.outputs import write_outputs
    from aether.tasks.scale import to_metric
    from aether.tasks.smoothing import SmoothingConfig, smooth_result

    result = smooth_result(result, SmoothingConfig(method=args.smooth)) if args.smooth else result
    if scale.known:
        metres = scale.metres_per_unit(result)
        print(f"metric scale: 1 model unit (the nearest depth) = {metres:.6g} m; depth and cameras in metres",
              file=sys.stderr)
        result = to_metric(result, metres)
    write_outputs(result, args.out, args.name)
    print(args.out / f"{args.name}.json")
    return 0


def reconstruct_command(parser: argparse.ArgumentParser):
    parser.add_argument("video", type=Path, help="video: a video file (.mp4, .mov, .mkv, .webm, .avi, .gif, "
                        ".m4v), a folder of frames (images in natural name order), a clip folder (rgb/) or a "
                        ".safetensors clip")
    _add_common(parser, "4")
    parser.add_argument("--window", type=int, default=41, help="frames per window of long videos (4k + 1)")
    parser.add_argument("--stride", type=int, default=24, help="frames between window starts")
    add_scale_options(parser, after_the_fact=True)
    parser.epilog = examples("aether reconstruct clip.mp4 --model aether-model --out out",
                             "aether reconstruct frames/ --model aether-model --out out --dtype bf16 --smooth",
                             "aether reconstruct clip.mp4 --model aether-model --out out --scene-depth 2.5")

    def run(args: argparse.Namespace) -> int:
        import sys

        from aether.core.clip import load_frames
        from aether.core.media import IMAGE_SUFFIXES
        from aether.tasks.pipeline import TaskInputError, check_video

        config, scale = _start(args), scale_config(args)
        if args.video.suffix.lower() in IMAGE_SUFFIXES:
            raise TaskInputError(f"{args.video} is a single image; reconstruct needs a video of >= 9 frames "
                                 "(for one image use `aether predict`; for frames, give their folder)")
        rgb, video_fps = load_frames(args.video)
        check_video(rgb)
        fps = _fps(args, video_fps or DEFAULT_FPS, str(args.video))
        if args.fps is None and video_fps is None:
            print(f"note: {args.video} states no frame rate; using the default {DEFAULT_FPS:g} fps (set --fps)",
                  file=sys.stderr)
        pipe = pipeline_for(args)
        result = pipe.reconstruct(rgb, fps=fps, config=config, window=args.window, stride=args.stride)
        return _write(result, args, scale)

    return run


def predict_command(parser: argparse.ArgumentParser):
    parser.add_argument("image", type=Path, help="observation image")
    _add_common(parser, "50")
    _add_trajectory(parser)
    parser.epilog = examples("aether predict first.png --model aether-model --out out",
                             "aether predict first.png --model aether-model --out out --named orbit-left",
                             "aether predict first.png --model aether-model --out out --trajectory path.txt "
                             "--scene-depth 3")

    def run(args: argparse.Namespace) -> int:
        config, fps, scale = _start(args), _fps(args, DEFAULT_FPS, "the default"), scale_config(args)
        image, trajectory = _read_image(args.image), _read_trajectory(args)
        pipe = pipeline_for(args)
        result = pipe.predict(image, num_frames=args.frames, fps=fps, action=_action(args, pipe, trajectory, scale),
                              config=config, post_reconstruction=args.post_reconstruction)
        return _write(result, args, scale)

    return run


def plan_command(parser: argparse.ArgumentParser):
    parser.add_argument("observation", type=Path, help="observation image (first frame)")
    parser.add_argument("goal", type=Path, help="goal image (last frame)")
    _add_common(parser, "50")
    _add_trajectory(parser)
    parser.epilog = examples("aether plan start.png goal.png --model aether-model --out out",
                             "aether plan start.png goal.png --model aether-model --out out --named forward "
                             "--frames 41")

    def run(args: argparse.Namespace) -> int:
        config, fps, scale = _start(args), _fps(args, DEFAULT_FPS, "the default"), scale_config(args)
        observation, goal = _read_image(args.observation), _read_image(args.goal)
        trajectory = _read_trajectory(args)
        pipe = pipeline_for(args)
        result = pipe.plan(observation, goal, num_frames=args.frames, fps=fps,
                           action=_action(args, pipe, trajectory, scale), config=config,
                           post_reconstruction=args.post_reconstruction)
        return _write(result, args, scale)

    return run
