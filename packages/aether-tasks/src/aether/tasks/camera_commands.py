"""``aether camera convert | raymap | decode | show``: camera paths in, our convention or the release's
raymap out, and whether their motion will show (docs/CAMERAS.md).

Every path comes out camera-to-world, OpenCV axes, first pose the identity. Raymaps are the release's
unpacked ``(F, 6, H/8, W/8)`` float32 ``.npy`` (``(F, 6, 60, 90)`` at 480 x 720, docs/FORMATS.md#raymap-codec).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aether.core.cli_help import examples
from aether.tasks.camera_paths import FORMATS
from aether.tasks.commands import DEFAULT_FPS, add_scale_options, scale_config

RELEASE_SIZE = (480, 720)


def _add_input(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trajectory", type=Path, help="camera file or folder (TUM, COLMAP model, transforms.json, "
                                                      "KITTI, .npy (F, 4, 4))")
    parser.add_argument("--from", dest="fmt", choices=FORMATS, default="auto",
                        help="input format (default: told apart by the path); npy = OpenCV c2w, opengl-c2w = "
                             "Blender / OpenGL c2w")


def _add_camera(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--K", nargs=4, type=float, metavar=("FX", "FY", "CX", "CY"),
                       help="intrinsics in pixels of the --size image")
    group.add_argument("--fov", type=float, help="horizontal field of view in degrees (default: the file's "
                                                 "intrinsics mapped to --size, else 60)")
    parser.add_argument("--size", nargs=2, type=int, default=RELEASE_SIZE, metavar=("H", "W"),
                        help="image size the raymap describes (default: the release's 480 720)")


MAX_IMAGE_SIDE = 8192  # pixels: far above any model size (the release's is 480 x 720)


def _p_max(args: argparse.Namespace) -> float | None:
    return scale_config(args).prior_p_max()


def _fps(args: argparse.Namespace) -> float:
    """``--fps``, checked: 0, negative or NaN would write NaN, infinite or decreasing TUM timestamps."""
    from aether.core.media import check_fps

    return check_fps(args.fps, "--fps")


def _read(args: argparse.Namespace):
    from aether.tasks.camera_paths import read_camera_path

    return read_camera_path(args.trajectory, args.fmt)


def _intrinsics(args: argparse.Namespace, path):
    from aether.tasks.camera_paths import CameraPathError, model_intrinsics

    if min(args.size) <= 0:  # `show` has no raymap codec to refuse it
        raise CameraPathError(f"--size needs a positive height and width, got {args.size[0]} {args.size[1]}")
    if max(args.size) > MAX_IMAGE_SIDE:  # a raymap of 100000 x 100000 pixels is gigabytes a frame
        raise CameraPathError(f"--size {args.size[0]} {args.size[1]} is larger than any model's image (at most "
                              f"{MAX_IMAGE_SIDE} a side); give the model's size, e.g. the release's 480 720")
    return model_intrinsics(path, *args.size, args.fov, args.K)


def _write_raymap(out: Path, args: argparse.Namespace, path) -> Path:
    """The release's raymap ``(F, 6, H/8, W/8)`` float32 of ``path`` to ``out``."""
    import torch

    from aether.codecs.raymap import encode
    from aether.core.atomic import write_array

    rays = encode(torch.from_numpy(path.c2w), torch.from_numpy(_intrinsics(args, path)), *args.size, _p_max(args))
    return write_array(out, rays.float().numpy())


def _write_poses(out: Path, c2w, timestamps, as_npy: bool) -> Path:
    """``c2w (F, 4, 4)`` as float64 ``.npy`` or as TUM text (9 decimals)."""
    import numpy as np

    from aether.codecs.cameras import write_tum
    from aether.core.atomic import write_array

    return write_array(out, np.asarray(c2w, np.float64)) if as_npy else write_tum(out, timestamps, c2w)


def _convert(parser: argparse.ArgumentParser):
    _add_input(parser)
    parser.add_argument("out", type=Path, help="output file")
    parser.add_argument("--to", choices=("tum", "npy", "raymap"), required=True,
                        help="tum text, npy c2w (F, 4, 4) float64, or the release's raymap .npy")
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS,
                        help=f"timestamps of a TUM output from a format without any (default: {DEFAULT_FPS:g})")
    _add_camera(parser)
    add_scale_options(parser)

    def run(args: argparse.Namespace) -> int:
        import numpy as np

        path = _read(args)
        if args.to == "raymap":
            print(_write_raymap(args.out, args, path))
            return 0
        timestamps = path.timestamps if path.timestamps is not None else np.arange(len(path.c2w)) / _fps(args)
        print(_write_poses(args.out, path.c2w, timestamps, args.to == "npy"))
        return 0

    return run


def _raymap(parser: argparse.ArgumentParser):
    _add_input(parser)
    parser.add_argument("--out", type=Path, required=True, help="raymap .npy to write")
    _add_camera(parser)
    add_scale_options(parser)

    def run(args: argparse.Namespace) -> int:
        print(_write_raymap(args.out, args, _read(args)))
        return 0

    return run


def _decode(parser: argparse.ArgumentParser):
    parser.add_argument("raymap", type=Path, help="raymap .npy (F, 6, H/8, W/8), e.g. the release's (F, 6, 60, 90)")
    parser.add_argument("--out", type=Path, required=True, help="trajectory to write: .txt (TUM) or .npy (F, 4, 4)")
    parser.add_argument("--method", choices=("lstsq", "released"), default="lstsq",
                        help="camera fit: least squares (exact on clean raymaps) or the release's heuristic")
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS, help="TUM timestamps = frame / fps")
    add_scale_options(parser)

    def run(args: argparse.Namespace) -> int:
        import numpy as np
        import torch

        from aether.codecs.raymap import decode
        from aether.core.media import read_array
        from aether.tasks.pipeline import TaskInputError

        rays = read_array(args.raymap)
        if rays.ndim != 4 or rays.shape[1] != 6 or not len(rays):
            raise TaskInputError(f"{args.raymap}: a raymap has shape (F, 6, H/8, W/8) with F >= 1, got {rays.shape}")
        if rays.dtype.kind != "f":  # integers or booleans are a truncated or mistaken file, not rays
            raise TaskInputError(f"{args.raymap}: a raymap holds floating-point rays, got dtype {rays.dtype}")
        fps = _fps(args)
        height, width = 8 * rays.shape[2], 8 * rays.shape[3]
        c2w, K = decode(torch.from_numpy(rays.astype(np.float64)), height, width, _p_max(args), args.method)
        _check_decoded(args.raymap, c2w.numpy(), K.numpy())
        fx, fy, cx, cy = K[:, 0, 0].median(), K[:, 1, 1].median(), K[:, 0, 2].median(), K[:, 1, 2].median()
        print(f"{len(c2w)} cameras of a {height}x{width} image; median fx {fx:.2f} fy {fy:.2f} cx {cx:.2f} "
              f"cy {cy:.2f} px")
        print(_write_poses(args.out, c2w.numpy(), np.arange(len(c2w)) / fps, args.out.suffix.lower() == ".npy"))
        return 0

    return run


def _check_decoded(path: Path, c2w, K) -> None:
    """A raymap whose directions do not span a camera (all zero, constant) decodes to singular or
    non-finite "cameras": refuse it rather than write them."""
    import numpy as np

    from aether.core.clip import check_c2w
    from aether.core.errors import AetherError
    from aether.tasks.pipeline import TaskInputError

    try:
        check_c2w(c2w, str(path))
        valid = bool(np.isfinite(K).all() and (K[:, 0, 0] > 0).all() and (K[:, 1, 1] > 0).all())
    except AetherError:
        valid = False
    if not valid:
        raise TaskInputError(f"{path}: its ray directions decode to no valid camera (not a rotation, or no positive "
                             "focal length); pass a raymap written by `aether camera raymap` or the release")


def _show(parser: argparse.ArgumentParser):
    _add_input(parser)
    _add_camera(parser)
    add_scale_options(parser)
    parser.add_argument("--plot", type=Path, help="PNG of the path's top-down and side views")

    def run(args: argparse.Namespace) -> int:
        import sys

        from aether.tasks.motion import describe_motion, format_summary

        path = _read(args)
        summary = describe_motion(path.c2w, _intrinsics(args, path), *args.size, _p_max(args) or 1.0)
        print(format_summary(summary))
        for line in summary.warnings():
            print(f"warning: {line}", file=sys.stderr)
        if args.plot is not None:
            from aether.tasks.outputs import plot_trajectory

            print(plot_trajectory(args.plot, path.c2w))
        return 0

    return run


# name -> (builder, summary, example command lines)
SUBCOMMANDS = {
    "convert": (_convert, "convert a camera path (TUM, COLMAP, NeRF, KITTI, npy) to TUM, npy or a raymap",
                ("aether camera convert sparse/0 path.txt --to tum", "aether camera convert transforms.json path.npy "
                 "--to npy", "aether camera convert path.txt rays.npy --to raymap --scene-depth 2")),
    "raymap": (_raymap, "write a camera path as the release's raymap .npy (F, 6, H/8, W/8)",
               ("aether camera raymap path.txt --out rays.npy --fov 60 --scene-depth 2",)),
    "decode": (_decode, "read a raymap .npy back into cameras (TUM or npy)",
               ("aether camera decode rays.npy --out path.txt", "aether camera decode rays.npy --out c2w.npy "
                "--method released")),
    "show": (_show, "print a path's rotation, translation and per-frame motion; warn when it will not show",
             ("aether camera show path.txt --scene-depth 2", "aether camera show sparse/0 --plot path.png")),
}


def camera_command(parser: argparse.ArgumentParser):
    """``aether camera SUBCOMMAND``: each subcommand's parser gets its own ``run``."""
    parser.epilog = examples(*(lines[0] for _, _, lines in SUBCOMMANDS.values()))
    sub = parser.add_subparsers(dest="camera_command", metavar="SUBCOMMAND", required=True)
    for name, (build, summary, lines) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=summary, description=summary, epilog=examples(*lines))
        sub_parser.set_defaults(_camera_run=build(sub_parser))

    def run(args: argparse.Namespace) -> int:
        return args._camera_run(args)

    return run
