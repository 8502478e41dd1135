"""CLI commands ``aether reconstruct``, ``aether predict`` and ``aether plan``.

Each ``<name>_command(parser)`` adds its arguments and returns ``run(args) -> int``; heavy
imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def _add_common(parser: argparse.ArgumentParser, default_steps: str) -> None:
    parser.add_argument("--model", required=True, type=Path,
                        help="model folder (transformer/, vae/, scheduler/)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--name", default="result", help="file name stem of the outputs (default: result)")
    parser.add_argument("--steps", type=int, help=f"denoising steps (default: {default_steps})")
    parser.add_argument("--guidance", type=float, help="CFG weight; <= 1 turns CFG off (default: the task's)")
    parser.add_argument("--no-dynamic-cfg", dest="dynamic_cfg", action="store_const", const=False,
                        help="use a constant CFG weight instead of the released dynamic one")
    parser.add_argument("--scheduler", choices=("dpm", "ddim"), default="dpm")
    parser.add_argument("--seed", type=int, default=0, help="seed of each pass's generator, drawn from in the "
                        "release's order: VAE posterior samples of the colour conditions, then the noise")
    parser.add_argument("--posterior-mode", dest="posterior", action="store_const", const="mode", default="sample",
                        help="encode colour conditions as the VAE posterior's mode instead of a seeded sample")
    parser.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default="fp32")
    parser.add_argument("--fp32-latents", dest="latents", action="store_const", const="float32", default="model",
                        help="hold the latents and noise in float32 between steps (default: in --dtype, as the "
                             "release; a bf16 run then gives the release's sample)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--fps", type=float,
                        help="frame rate the model is told (default: the video's, else 12)")
    parser.add_argument("--smooth", action="store_true", help="smooth the cameras: constant-velocity Kalman "
                        "on positions, Gaussian quaternion mean on rotations (SPEC §7)")


def _add_trajectory(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--trajectory", type=Path, help="camera trajectory as a TUM file (one pose per frame)")
    group.add_argument("--raymap", type=Path, help="released-format raymap .npy of shape (F, 6, H/8, W/8)")
    group.add_argument("--named", help="a named trajectory: forward, turn-left, orbit-left, ...")
    parser.add_argument("--frames", type=int, help="frames to generate, 4k + 1 (default: the trajectory's "
                                                    "length, else the model's)")
    parser.add_argument("--fov", type=float, default=60.0, help="horizontal field of view in degrees of a "
                                                                "--trajectory / --named path (default 60)")
    parser.add_argument("--post-reconstruction", choices=("rgb", "latents"), default="rgb",
                        help="depth and cameras from the generated video decoded to RGB and re-encoded (rgb, the "
                             "release) or from its colour latents directly (latents: one VAE encode fewer)")


def _config(args: argparse.Namespace):
    from aether.tasks.sampling import SamplingConfig

    return SamplingConfig(steps=args.steps, guidance=args.guidance, dynamic_cfg=args.dynamic_cfg,
                          scheduler=args.scheduler, seed=args.seed, posterior=args.posterior, latents=args.latents)


def _pipeline(args: argparse.Namespace):
    from aether.tasks.pipeline import AetherPipeline

    return AetherPipeline.from_pretrained(args.model, dtype=args.dtype, device=args.device)


def _read_image(path: Path):
    from aether.core.errors import ClipError
    from aether.core.media import read_image

    if not path.is_file():
        raise ClipError(f"{path}: no such image file")
    return read_image(path)


def _read_trajectory(args: argparse.Namespace):
    """``--raymap`` as an array or ``--trajectory`` as ``c2w (F, 4, 4)``, read and checked before
    the (slow) model load; None if neither is given."""
    import numpy as np

    from aether.tasks.pipeline import TaskInputError, check_frame_count

    path = args.raymap or args.trajectory
    if path is None:
        return None
    if not path.is_file():
        raise TaskInputError(f"{path}: no such file")
    if args.raymap is not None:
        data = np.load(path)
    else:
        from aether.codecs.cameras import read_tum

        data = read_tum(path)[1]
    if args.frames is not None and len(data) != args.frames:
        raise TaskInputError(f"{path} has {len(data)} frames but --frames is {args.frames}; "
                             "give one pose per generated frame")
    check_frame_count(len(data), str(path))
    return data


def _action(args: argparse.Namespace, pipe, trajectory):
    """The packed action ``(1, T, 24, h, w)`` of the trajectory options, or None."""
    from aether.tasks.pipeline import default_intrinsics

    if args.raymap is not None:
        return pipe.action_from_raymap(trajectory)
    if args.named is not None:
        from aether.tasks.trajectories import named_trajectory

        trajectory = named_trajectory(args.named, args.frames or pipe.default_frames)
    if trajectory is None:
        return None
    return pipe.action_from_cameras(trajectory, default_intrinsics(len(trajectory), pipe.height, pipe.width,
                                                                   args.fov))


def _write(result, args: argparse.Namespace) -> int:
    from aether.tasks.outputs import write_outputs
    from aether.tasks.smoothing import smooth_result

    write_outputs(smooth_result(result) if args.smooth else result, args.out, args.name)
    print(args.out / f"{args.name}.json")
    return 0


def reconstruct_command(parser: argparse.ArgumentParser):
    parser.add_argument("video", type=Path, help="video: .mp4, a frame folder or a .safetensors clip")
    _add_common(parser, "4")
    parser.add_argument("--window", type=int, default=41, help="frames per window of long videos (4k + 1)")
    parser.add_argument("--stride", type=int, default=24, help="frames between window starts")

    def run(args: argparse.Namespace) -> int:
        from aether.core.clip import load_clip
        from aether.tasks.pipeline import TaskInputError, check_video

        if args.video.suffix.lower() in IMAGE_SUFFIXES:
            raise TaskInputError(f"{args.video} is a single image; reconstruct needs a video of >= 9 frames "
                                 "(for one image use `aether predict`)")
        clip = load_clip(args.video)
        check_video(clip.rgb)  # before the slow model load
        pipe = _pipeline(args)
        result = pipe.reconstruct(clip.rgb, fps=args.fps or clip.fps, config=_config(args),
                                  window=args.window, stride=args.stride)
        return _write(result, args)

    return run


def predict_command(parser: argparse.ArgumentParser):
    parser.add_argument("image", type=Path, help="observation image")
    _add_common(parser, "50")
    _add_trajectory(parser)

    def run(args: argparse.Namespace) -> int:
        image, trajectory = _read_image(args.image), _read_trajectory(args)
        pipe = _pipeline(args)
        result = pipe.predict(image, num_frames=args.frames, fps=args.fps or 12.0,
                              action=_action(args, pipe, trajectory), config=_config(args),
                              post_reconstruction=args.post_reconstruction)
        return _write(result, args)

    return run


def plan_command(parser: argparse.ArgumentParser):
    parser.add_argument("observation", type=Path, help="observation image (first frame)")
    parser.add_argument("goal", type=Path, help="goal image (last frame)")
    _add_common(parser, "50")
    _add_trajectory(parser)

    def run(args: argparse.Namespace) -> int:
        observation, goal = _read_image(args.observation), _read_image(args.goal)
        trajectory = _read_trajectory(args)
        pipe = _pipeline(args)
        result = pipe.plan(observation, goal, num_frames=args.frames, fps=args.fps or 12.0,
                           action=_action(args, pipe, trajectory), config=_config(args),
                           post_reconstruction=args.post_reconstruction)
        return _write(result, args)

    return run
