"""Plugins of aether.annotate.synthetic, registered through their own entry point: the ``synth`` command."""

from __future__ import annotations

import argparse

from aether.annotate.synthetic.config import LIGHTINGS, MOTION_KINDS, SCENE_KINDS, RenderConfig, SynthError
from aether.core.cli_help import examples
from aether.core.cli_options import add_progress_option
from aether.core.hookspecs import hookimpl
from aether.core.specs import CommandSpec


def _synth_command(parser: argparse.ArgumentParser):
    parser.add_argument("--out", required=True, help="folder to write clip_0000.safetensors, ... into")
    parser.add_argument("--clips", type=int, default=1, help="number of clips")
    parser.add_argument("--seed", type=int, default=0, help="clip i uses seed SEED + i")
    parser.add_argument("--frames", type=int, default=41, help="frames per clip")
    parser.add_argument("--height", type=int, default=240, help="frame height in pixels")
    parser.add_argument("--width", type=int, default=360, help="frame width in pixels")
    parser.add_argument("--fps", type=float, default=12.0, help="frame rate of the clips")
    parser.add_argument("--scene", choices=SCENE_KINDS, help="scene kind (default: drawn per clip)")
    parser.add_argument("--motion", choices=MOTION_KINDS, help="camera motion (default: drawn per clip)")
    parser.add_argument("--dynamic", type=int, default=2, help="moving objects per clip")
    parser.add_argument("--lighting", choices=LIGHTINGS, default="normal", help="scene lighting")
    parser.add_argument("--texture-contrast", type=float, default=1.0, help="0 renders textureless surfaces")
    add_progress_option(parser)
    parser.epilog = examples("aether synth --out clips --clips 20", "aether synth --out clips --scene room "
                             "--motion orbit --frames 17 --height 480 --width 720")

    def run(args: argparse.Namespace) -> int:
        from pydantic import ValidationError

        from aether.annotate.synthetic.writer import write_clips

        if args.clips < 0 or args.seed < 0:
            raise SynthError(f"--clips and --seed must be >= 0, got {args.clips} and {args.seed}")
        try:
            render = RenderConfig(height=args.height, width=args.width, frames=args.frames, fps=args.fps)
            paths = write_clips(args.out, args.clips, args.seed, render, args.scene, args.motion,
                                dynamic_objects=args.dynamic, lighting=args.lighting,
                                texture_contrast=args.texture_contrast, progress=args.progress)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise SynthError(f"invalid option {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        print(f"{len(paths)} clips in {args.out}")
        return 0

    return run


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    return [CommandSpec(name="synth", summary="render synthetic RGB-D clips with exact cameras and labels",
                        build=_synth_command)]
