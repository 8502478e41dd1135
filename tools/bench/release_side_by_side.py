"""Our pipelines vs the released AETHER inference code (InternRobotics/Aether), side by side in one run:
wall seconds (CUDA-synchronised) and peak GPU memory of the same task with the same model, settings
and seed, plus how far apart the two outputs are.

    .venv/bin/python tools/bench/release_side_by_side.py [--only recon predict long] [--pred-steps 10]
                                                         [--release-dir .release] [--folder MODEL_DIR]
                                                         [--tiny] [--seed 42] [--device cuda]

Parts (``--only`` picks some; default all):
  recon    one 41-frame window at 480x720, 4 steps, no CFG
  predict  41 frames from one image, ``--pred-steps`` (default 50) steps, CFG 3.0 with the dynamic
           weight, then the 4-step reconstruction pass each side runs after a prediction over the generated
           video decoded to RGB and re-encoded (ours: ``AetherPipeline.predict``; the release: a second
           pipeline call on the generated video, as its demo does by default); then ours once more with
           ``post_reconstruction="latents"`` (the reconstruction reads the generated colour latents: no
           VAE re-encode), reported as ``RESULT name=latent_shortcut_...`` with ratio = shortcut / default
  long     a 191-frame video through temporal windows of 41 frames, stride 24, merged as each side
           merges them (ours: ``aether.tasks.windows``; the release: its demo's window starts and
           blending, camera smoothing off on both sides)

One random-weight model set is built in bf16 on the device (the released AetherV1 transformer config,
the CogVideoX-5b-I2V VAE, the CogVideoX DPM scheduler) and both pipelines are given the *same* module
objects and the same random stand-in for the empty-prompt T5 embedding (1, 226, 4096). ``--folder``
loads a model folder (ours: ``AetherPipeline.from_pretrained``; the release: the diffusers loading
calls of its demo, with the folder's ``empty_prompt_embeds.safetensors`` in place of running T5).
VAE slicing and tiling are on for both (the release's demo and our codec both turn them on).
``--tiny`` runs the same code paths on the CPU with tiny models: 17 frames of 64x96 (the release
accepts only 17/25/33/41 frames; 64x96 frames are tiled by the tiny VAE as 480x720 frames are by the
real one), a 25-frame long video in windows of 17, stride 8.

The release is read from ``--release-dir`` (default ``.release`` at the repository root, git-ignored
through ``.git/info/exclude``, never committed): its ``aether/`` package and ``scripts/demo.py``, plus a
``COMMIT`` file holding the commit it was extracted from. Its top-level package is also called
``aether`` and would shadow ours, so its modules are loaded from their files under a private name
instead of putting the folder on ``sys.path``. Its utilities import matplotlib and plyfile at module
level for functions this bench never calls; where those are missing, placeholder modules stand in.

Each part prints a readable line, then ``RESULT name=... device=... ratio=<ours/release seconds>
value=<ours seconds> memory=<ours peak GiB>``. A part that fails prints ``FAILED <part>: <reason>``
(traceback on stderr) and the others still run; the exit status is then 1. The closing summary
repeats every RESULT line, so the last line is always one (read RESULT lines by name). Peak memory
includes the shared weights; on the CPU it is the process's peak RSS so far.
"""

from __future__ import annotations

import __future__
import argparse
import ast
import contextlib
import importlib.util
import math
import sys
import time
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel

from aether.core.backbone import TINY_CONFIG, AetherBackbone
from aether.core.model_folder import ModelFolder, default_scheduler_config
from fullsize import (COGVIDEOX_5B_VAE, RELEASED_TRANSFORMER, TINY_VAE, build_on_device, free_memory, peak_gib,
                      reset_peak, synchronize)
from timing import describe_device, result_line

REPO = Path(__file__).resolve().parents[2]
FPS = 12  # the release accepts 8, 10, 12, 15, 24
PARTS = ("recon", "predict", "long")
ALIASES = {"reconstruction": "recon", "prediction": "predict", "long-video": "long"}
PRIVATE = "_aether_release"  # module prefix the release's files are loaded under

# CPU-sized stand-ins of the same classes. 64x96 frames (8x12 latents); the VAE's sample size puts the
# tiling threshold at 48x80 pixels, so tiny frames go through the tiled encode / decode as 480x720 does.
TINY_TRANSFORMER: dict[str, Any] = {**TINY_CONFIG, "sample_height": 8, "sample_width": 12, "sample_frames": 17,
                                    "max_text_seq_length": 226}
# posterior log-variance bias of the random VAE: a trained VAE's posterior is narrow (both sides sample it
# with the seeded generator); with random weights its samples would be O(1) noise
LOGVAR_BIAS = -10.0


@dataclass(frozen=True)
class Sizes:
    height: int
    width: int
    frames: int        # recon / predict clip
    long_frames: int   # the long video
    window: int
    stride: int


FULL = Sizes(480, 720, 41, 191, 41, 24)
TINY = Sizes(64, 96, 17, 25, 17, 8)


# --------------------------------------------------------------------------- the release's code
@dataclass
class Release:
    commit: str
    pipeline_cls: type            # AetherV1PipelineCogVideoX
    output_cls: type              # AetherV1PipelineOutput(rgb, disparity, raymap)
    window_starts: Callable       # its demo's get_window_starts(total, window, stride)
    merge_windows: Callable       # its demo's blend_and_merge_window_results(results, starts, args)
    placeholders: list[str]

    def pipeline(self, prompt_embeds: torch.Tensor, vae, scheduler, transformer):
        """The release's pipeline class, given the empty-prompt T5 embedding instead of computing it
        (its constructor encodes "" with T5; no tokenizer or T5 weights are needed for that here)."""
        base = self.pipeline_cls

        class ReleasePipeline(base):
            def encode_prompt(self, *args, **kwargs):
                return prompt_embeds, None

        pipe = ReleasePipeline(tokenizer=None, text_encoder=None, vae=vae, scheduler=scheduler,
                               transformer=transformer)
        pipe.vae.enable_slicing()  # as its demo's build_pipeline does
        pipe.vae.enable_tiling()
        pipe.set_progress_bar_config(disable=True)
        return pipe


class _Missing:
    """Stands in for a name of a package that is not installed; fails only when used."""

    def __init__(self, module: str, name: str) -> None:
        self._what = f"{module}.{name}"

    def __call__(self, *args, **kwargs):
        raise ImportError(f"{self._what} is not installed (a placeholder stood in for it)")

    def __getattr__(self, name: str):
        raise ImportError(f"{self._what} is not installed (a placeholder stood in for it)")


def _placeholder(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__getattr__ = lambda attr: _Missing(name, attr)  # PEP 562
    return module


@contextlib.contextmanager
def _temporary_modules(modules: dict[str, types.ModuleType]):
    """Put ``modules`` into ``sys.modules`` (names not already there) for the duration only."""
    added = [name for name in modules if name not in sys.modules]
    sys.modules.update({name: modules[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            sys.modules.pop(name, None)


def _exec_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _functions_of(path: Path, names: tuple[str, ...], namespace: dict[str, Any]) -> list[Callable]:
    """The module-level functions ``names`` of the script ``path``, defined in ``namespace`` (the
    script itself is not run: its module level sets up paths and imports viewers)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
    missing = set(names) - {node.name for node in nodes}
    if missing:
        raise RuntimeError(f"{path} defines no {', '.join(sorted(missing))}")
    code = compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)
    exec(code, namespace)  # noqa: S102 - the release's own functions, the thing being measured
    return [namespace[name] for name in names]


def load_release(release_dir: Path) -> Release:
    """Load the release's pipeline module, its post-processing utilities and its demo's window helpers."""
    package = release_dir / "aether"
    files = {"pre": package / "utils" / "preprocess_utils.py",
             "post": package / "utils" / "postprocess_utils.py",
             "pipe": package / "pipelines" / "aetherv1_pipeline_cogvideox.py",
             "demo": release_dir / "scripts" / "demo.py"}
    absent = [str(p.relative_to(release_dir)) for p in files.values() if not p.is_file()]
    if absent:
        raise FileNotFoundError(f"release code not found in {release_dir} (no {', '.join(absent)}); extract "
                                "InternRobotics/Aether there (see tools/bench/README.md)")
    commit_file = release_dir / "COMMIT"
    commit = commit_file.read_text().strip() if commit_file.is_file() else "unknown (no COMMIT file)"
    placeholders = [name for name in ("matplotlib", "plyfile") if importlib.util.find_spec(name) is None]
    # the pipeline imports `aether.utils.preprocess_utils` (the release's name): alias it while loading
    utils = types.ModuleType("aether.utils")
    utils.__path__ = [str(package / "utils")]
    try:
        with _temporary_modules({name: _placeholder(name) for name in placeholders}):
            utils.preprocess_utils = _exec_file(f"{PRIVATE}.utils.preprocess_utils", files["pre"])
            post = _exec_file(f"{PRIVATE}.utils.postprocess_utils", files["post"])
        with _temporary_modules({"aether.utils": utils, "aether.utils.preprocess_utils": utils.preprocess_utils}):
            pipe = _exec_file(f"{PRIVATE}.pipelines.aetherv1_pipeline_cogvideox", files["pipe"])
    except ImportError as exc:
        raise ImportError(f"the release's code needs {exc.name or exc}: pip install {exc.name or '...'}") from exc
    namespace = {"np": np, "torch": torch, **{k: v for k, v in vars(post).items() if not k.startswith("__")}}
    starts, merge = _functions_of(files["demo"], ("get_window_starts", "blend_and_merge_window_results"),
                                  namespace)
    return Release(commit, pipe.AetherV1PipelineCogVideoX, pipe.AetherV1PipelineOutput, starts, merge, placeholders)


# --------------------------------------------------------------------------- models
def random_module(cls, config: dict[str, Any], device: torch.device) -> torch.nn.Module:
    """``cls(**config)`` with random bf16 weights drawn on ``device``, frozen for inference."""
    return build_on_device(cls, config, device, torch.bfloat16).eval().requires_grad_(False)


@dataclass
class Sides:
    ours: Any        # aether.tasks.pipeline.AetherPipeline
    release: Any     # the release's AetherV1PipelineCogVideoX
    sizes: Sizes
    what: str


def build_shared(release: Release, sizes: Sizes, tiny: bool, device: torch.device, seed: int) -> Sides:
    """One random-weight model set; both pipelines hold the same module objects."""
    from aether.codecs.video import CogVideoXCodec
    from aether.core.registry import default_registry
    from aether.tasks.pipeline import AetherPipeline

    torch.manual_seed(seed)
    t_config = TINY_TRANSFORMER if tiny else RELEASED_TRANSFORMER
    transformer = random_module(CogVideoXTransformer3DModel, t_config, device)
    vae = random_module(AutoencoderKLCogVideoX, TINY_VAE if tiny else COGVIDEOX_5B_VAE, device)
    latent = vae.config.latent_channels
    with torch.no_grad():
        vae.encoder.conv_out.conv.bias[latent:] = LOGVAR_BIAS  # encoder output = (mean, log-variance)
    generator = torch.Generator().manual_seed(seed)
    embeds = torch.randn(1, t_config["max_text_seq_length"], t_config["text_embed_dim"], generator=generator)
    embeds = embeds.to(device, torch.bfloat16)
    registry = default_registry()
    ours = AetherPipeline(
        backbone=AetherBackbone(transformer, embeds), video_codec=CogVideoXCodec(vae),
        depth_codec=registry.build("modality", "disparity"), action_encoder=registry.build("action_encoder", "raymap"),
        scheduler_config=default_scheduler_config(), prompt_embeds=embeds, height=sizes.height, width=sizes.width,
        default_frames=sizes.frames, device=device, dtype=torch.bfloat16, registry=registry)
    theirs = release.pipeline(embeds, vae, CogVideoXDPMScheduler(**default_scheduler_config()), transformer).to(device)
    params = sum(p.numel() for p in transformer.parameters()) / 1e9
    return Sides(ours, theirs, sizes, f"shared random-weight modules: transformer {params:.2f} B parameters, "
                                      f"VAE {sum(p.numel() for p in vae.parameters()) / 1e6:.1f} M, bf16")


def build_from_folder(release: Release, folder: Path, tiny: bool, device: torch.device) -> Sides:
    """Each side loads ``folder`` with its own loading code (two copies of the weights)."""
    from aether.tasks.pipeline import AetherPipeline

    ours = AetherPipeline.from_pretrained(folder, dtype="bf16", device=device)
    # the release demo's calls; T5("") comes from the folder's stored embedding
    embeds = ModelFolder(folder).prompt_embeds().to(device, torch.bfloat16)
    theirs = release.pipeline(
        embeds,
        vae=AutoencoderKLCogVideoX.from_pretrained(folder, subfolder="vae", torch_dtype=torch.bfloat16),
        scheduler=CogVideoXDPMScheduler.from_pretrained(folder, subfolder="scheduler"),
        transformer=CogVideoXTransformer3DModel.from_pretrained(folder, subfolder="transformer",
                                                                torch_dtype=torch.bfloat16)).to(device)
    base = TINY if tiny else FULL
    sizes = Sizes(ours.height, ours.width, base.frames, base.long_frames, base.window, base.stride)
    what = f"model folder {folder} loaded by each side, bf16"
    vae = getattr(ours.video_codec, "vae", None)
    if vae is not None:
        p = next(vae.parameters())
        if p.dtype != torch.bfloat16 or p.device.type != device.type:
            what += f" (note: our loader left its VAE in {str(p.dtype).removeprefix('torch.')} on {p.device})"
    return Sides(ours, theirs, sizes, what)


# --------------------------------------------------------------------------- measuring
def measure(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float, float]:
    """``fn()``'s result, wall seconds and peak memory (GiB: GPU tensors since the start of the call;
    on the CPU the process's peak RSS so far)."""
    free_memory(device)
    reset_peak(device)
    start = time.perf_counter()
    with torch.no_grad():
        out = fn()
    synchronize(device)
    return out, time.perf_counter() - start, peak_gib(device)


def synthetic_video(num_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """uint8 ``(F, H, W, 3)``: smooth coloured waves drifting across the frame."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    freq = rng.uniform(2, 6, (3, 2)) * (2 * np.pi / np.array([width, height]))
    phase = rng.uniform(0, 2 * np.pi, 3)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        for c in range(3):
            wave = np.sin(x * freq[c, 0] + 0.15 * t + phase[c]) * np.cos(y * freq[c, 1] - 0.1 * t)
            frames[t, :, :, c] = np.clip(127.5 + 110 * wave, 0, 255).astype(np.uint8)
    return frames


# --------------------------------------------------------------------------- output comparison
def _stats(a: np.ndarray, b: np.ndarray) -> str:
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return f"max|d| {d.max():.3g} (mean {d.mean():.3g})"


def _release_cameras(pipe, raymap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The release's raw raymap ``(F, 6, h, w)`` decoded by our action encoder, first camera = identity."""
    packed = pipe.action_encoder.from_raymap(torch.from_numpy(np.array(raymap, np.float32))[None])
    c2w, K = pipe.action_encoder.decode(packed, pipe.height, pipe.width)
    c2w = c2w[0].double().numpy()
    return np.linalg.inv(c2w[0]) @ c2w, K[0].double().numpy()


def _camera_stats(ours, c2w: np.ndarray, K: np.ndarray) -> str:
    # angle from the chord |R1 - R2|_F = 2 sqrt(2) sin(angle / 2): exact near 0, where arccos of the trace
    # reads float32 round-off of identical rotations as 0.02 degrees
    chord = np.linalg.norm(ours.c2w[:, :3, :3] - c2w[:, :3, :3], axis=(1, 2))
    angle = np.degrees(2 * np.arcsin(np.clip(chord / (2 * np.sqrt(2)), 0, 1)))
    centre = np.abs(ours.c2w[:, :3, 3] - c2w[:, :3, 3]).max()
    focal = np.abs(ours.K[:, 0, 0] / K[:, 0, 0] - 1).max()
    return f"cameras: rotation max {angle.max():.3g} deg, centre max|d| {centre:.3g}, focal max rel {focal:.3g}"


def compare(sides: Sides, ours, rgb: np.ndarray, disparity: np.ndarray, raymap: np.ndarray | None,
            rgb_note: str = "") -> str:
    """One line: ours vs the release's output (disparity q^2 clipped to [1e-3, 1] as both decode it,
    colour in [0, 1], cameras decoded from the release's raymap by our decoder)."""
    parts = [f"disparity {_stats(ours.disparity, np.clip(disparity, 1e-3, 1.0))}",
             f"rgb{rgb_note} {_stats(ours.rgb / 255.0, np.clip(rgb, 0.0, 1.0))}"]
    if raymap is not None:
        try:
            parts.append(_camera_stats(ours, *_release_cameras(sides.ours, raymap)))
        except Exception as exc:  # a random raymap may not decode to cameras
            parts.append(f"cameras: n/a ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
    return "  ours vs release outputs: " + " | ".join(parts)


# --------------------------------------------------------------------------- the parts
class Bench:
    def __init__(self, sides: Sides, args: argparse.Namespace, device: torch.device) -> None:
        self.sides, self.args, self.device = sides, args, device
        self.results: list[str] = []

    def generator(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.args.seed)

    def config(self, **kwargs):
        from aether.tasks.sampling import SamplingConfig

        return SamplingConfig(seed=self.args.seed, progress=False, **kwargs)

    def release_recon(self, video: np.ndarray):
        s = self.sides.sizes
        return self.sides.release(task="reconstruction", video=video, height=s.height, width=s.width,
                                  num_frames=len(video), fps=FPS, num_inference_steps=4, guidance_scale=1.0,
                                  use_dynamic_cfg=False, generator=self.generator())

    def both(self, what: str, ours_fn: Callable[[], Any], release_fn: Callable[[], Any]):
        """Measure ours, then the release; if one side fails, print the other's numbers and raise."""
        outcomes = []
        for side, fn in (("ours", ours_fn), ("release", release_fn)):
            try:
                outcomes.append(measure(fn, self.device))
            except Exception as exc:
                print(f"  {side} failed: {_one_line(exc)}", flush=True)
                traceback.print_exc(file=sys.stderr)
                outcomes.append(exc)
        errors = [o for o in outcomes if isinstance(o, Exception)]
        if errors:
            shown = ["FAILED" if isinstance(o, Exception) else f"{o[1]:.2f} s, {o[2]:.2f} GiB" for o in outcomes]
            print(f"{what}: ours {shown[0]} | release {shown[1]}", flush=True)
            raise errors[0]
        return outcomes

    def compare(self, make_line: Callable[[], str]) -> None:
        try:
            print(make_line(), flush=True)
        except Exception as exc:
            print(f"  outputs not compared: {_one_line(exc)}", flush=True)
            traceback.print_exc(file=sys.stderr)

    def report(self, name: str, what: str, ours: tuple[Any, float, float], theirs: tuple[Any, float, float],
               extra: str = "") -> None:
        (_, t_ours, m_ours), (_, t_rel, m_rel) = ours, theirs
        ratio = t_ours / t_rel
        print(f"{what}: ours {t_ours:.2f} s, {m_ours:.2f} GiB | release {t_rel:.2f} s, {m_rel:.2f} GiB | "
              f"ours/release {ratio:.3f}{extra}")
        self.record(name, ratio=ratio, value=t_ours, memory=m_ours)

    def record(self, name: str, **fields: float) -> None:
        """Print a ``RESULT`` line now and keep it for the summary at the end."""
        line = result_line(name, self.device, **fields)
        print(line, flush=True)
        self.results.append(line)

    def warm_up(self) -> None:
        """Untimed: one frame through the VAE (tiled, as in the parts) and one transformer call at two
        latent frames, on each side's modules (the same objects unless ``--folder``), so that neither
        side's timing carries the device's first-call costs."""
        s, pipe = self.sides.sizes, self.sides.release
        h, w = s.height // 8, s.width // 8
        embeds = pipe.empty_prompt_embeds.to(self.device)

        def run():
            ours = self.sides.ours
            pairs = {id(pipe.transformer): (pipe.vae, pipe.transformer)}
            pairs.setdefault(id(ours.backbone.transformer),
                             (getattr(ours.video_codec, "vae", None), ours.backbone.transformer))
            rotary = ours.backbone.rotary(2, h, w, FPS, self.device)
            for vae, transformer in pairs.values():
                if vae is not None:  # in the VAE's own dtype and device, whatever a loader left them at
                    p = next(vae.parameters())
                    frame = torch.zeros(1, 3, 1, s.height, s.width, device=p.device, dtype=p.dtype)
                    vae.decode(vae.encode(frame).latent_dist.mode())
                p = next(transformer.parameters())
                x = torch.zeros(1, 2, transformer.config.in_channels, h, w, device=p.device, dtype=p.dtype)
                transformer(hidden_states=x, encoder_hidden_states=embeds.to(p.device, p.dtype),
                            image_rotary_emb=rotary, timestep=torch.tensor([999], device=p.device),
                            return_dict=False)

        _, seconds, _ = measure(run, self.device)
        print(f"warm-up (VAE 1 frame, transformer 2 latent frames, untimed): {seconds:.2f} s", flush=True)

    def recon(self) -> None:
        s = self.sides.sizes
        video = synthetic_video(s.frames, s.height, s.width, self.args.seed)
        what = f"recon {s.frames} frames {s.height}x{s.width}, 4 steps, no CFG"
        ours, theirs = self.both(what, lambda: self.sides.ours.reconstruct(video, fps=FPS, config=self.config()),
                                 lambda: self.release_recon(video))
        rel = theirs[0]
        self.compare(lambda: compare(self.sides, ours[0], rel.rgb, rel.disparity, rel.raymap,
                                     rgb_note=" (ours returns the input frames)"))
        self.report(f"release_recon_{s.frames}f", what, ours, theirs)

    def predict(self) -> None:
        s, steps = self.sides.sizes, self.args.pred_steps
        image = synthetic_video(1, s.height, s.width, self.args.seed)[0]

        def ours_run(post_reconstruction: str = "rgb"):
            return self.sides.ours.predict(image, num_frames=s.frames, fps=FPS,
                                           config=self.config(steps=steps, guidance=3.0, dynamic_cfg=True),
                                           post_reconstruction=post_reconstruction)

        def release_run():
            out = self.sides.release(task="prediction", image=image, height=s.height, width=s.width,
                                     num_frames=s.frames, fps=FPS, num_inference_steps=steps, guidance_scale=3.0,
                                     use_dynamic_cfg=True, generator=self.generator())
            return out, self.release_recon(out.rgb)  # its demo's post-reconstruction (on by default)

        what = (f"predict {s.frames} frames {s.height}x{s.width}, {steps} steps, CFG 3.0 dynamic, "
                f"+ 4-step reconstruction")
        ours, theirs = self.both(what, ours_run, release_run)
        out, rec = theirs[0]
        self.compare(lambda: compare(self.sides, ours[0], out.rgb, rec.disparity, rec.raymap))
        self.report(f"release_predict_{s.frames}f_{steps}steps", what, ours, theirs)
        _, seconds, memory = measure(lambda: ours_run("latents"), self.device)
        print(f"ours with the latent shortcut (no VAE re-encode before the reconstruction): {seconds:.2f} s vs "
              f"{ours[1]:.2f} s, speed-up x{ours[1] / seconds:.3f}")
        self.record(f"latent_shortcut_predict_{s.frames}f_{steps}steps", ratio=seconds / ours[1], value=seconds,
                    memory=memory)

    def long(self) -> None:
        s = self.sides.sizes
        video = synthetic_video(s.long_frames, s.height, s.width, self.args.seed)
        release = self.args.release
        info: dict[str, Any] = {}

        def release_run():
            starts = release.window_starts(len(video), s.window, s.stride)
            start = time.perf_counter()
            results = [self.release_recon(video[t:t + s.window]) for t in starts]
            synchronize(self.device)
            info["windows"], info["count"] = time.perf_counter() - start, len(starts)
            merge_args = argparse.Namespace(align_pointmaps=False, smooth_camera=False, smooth_method="none",
                                            height=s.height, width=s.width)
            start = time.perf_counter()
            try:
                return release.merge_windows(results, starts, merge_args)
            except Exception as exc:  # e.g. its pose alignment meets a reflection in random-weight cameras
                info["merge_error"] = _one_line(exc)
                traceback.print_exc(file=sys.stderr)
            # the merge's cost does not depend on the values: time it on the same windows with their
            # raymaps replaced by a well-formed trajectory
            valid = [release.output_cls(rgb=r.rgb, disparity=r.disparity, raymap=self.valid_raymap(len(r.rgb)))
                     for r in results]
            start = time.perf_counter()
            release.merge_windows(valid, starts, merge_args)
            info["merge"] = time.perf_counter() - start
            return None

        def merged_line() -> str:
            rgb, disparity = theirs[0][0], np.asarray(theirs[0][1], np.float64)
            disparity = disparity / disparity.max()  # ours is normalised the same way over the clip
            return ("  ours vs release outputs: "
                    f"disparity (normalised by the clip max) {_stats(ours[0].disparity, disparity)} | "
                    f"rgb (ours returns the input frames) {_stats(ours[0].rgb / 255.0, np.clip(rgb, 0, 1))}")

        what = (f"long video {s.long_frames} frames {s.height}x{s.width}, windows of {s.window} stride {s.stride}, "
                "4 steps")
        ours, theirs = self.both(
            what, lambda: self.sides.ours.reconstruct(video, fps=FPS, config=self.config(), window=s.window,
                                                      stride=s.stride), release_run)
        extra = f" (release: {info['count']} windows {info['windows']:.2f} s + merge {info['merge']:.2f} s)"
        if theirs[0] is None:
            print(f"  release merge failed on the random-weight cameras ({info['merge_error']}); its merge was "
                  "timed on the same windows with a well-formed trajectory as raymaps; outputs not compared")
            theirs = (None, info["windows"] + info["merge"], theirs[2])
        else:
            self.compare(merged_line)
        self.report(f"release_long_{s.long_frames}f", what, ours, theirs, extra=extra)

    def valid_raymap(self, num_frames: int) -> np.ndarray:
        """A release-format raymap ``(F, 6, h, w)`` of a camera moving forward while turning slowly."""
        from scipy.spatial.transform import Rotation

        from aether.codecs import raymap as raymap_codec
        from aether.tasks.pipeline import default_intrinsics

        s = self.sides.sizes
        c2w = np.tile(np.eye(4), (num_frames, 1, 1))
        c2w[:, :3, :3] = Rotation.from_euler("y", np.linspace(0, 10, num_frames)[:, None],
                                                  degrees=True).as_matrix()
        c2w[:, 2, 3] = np.linspace(0, 0.5, num_frames)
        K = default_intrinsics(num_frames, s.height, s.width)
        ray = raymap_codec.encode(torch.from_numpy(c2w)[None].float(), torch.from_numpy(K)[None].float(),
                                  s.height, s.width)
        return ray[0].numpy()


# --------------------------------------------------------------------------- main
def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release-dir", type=Path, default=Path(".release"),
                        help="extracted InternRobotics/Aether (relative paths: from the repository root)")
    parser.add_argument("--folder", type=Path, help="load both sides from this model folder instead of "
                                                    "sharing random-weight modules")
    parser.add_argument("--tiny", action="store_true", help="tiny models and clips (CPU check of every path)")
    parser.add_argument("--only", nargs="+", default=list(PARTS), metavar="PART",
                        help=f"parts to run: {', '.join(PARTS)} (space or comma separated; also "
                             f"{', '.join(ALIASES)}; default all)")
    parser.add_argument("--pred-steps", type=int, help="prediction steps (default 50; --tiny: 3)")
    parser.add_argument("--seed", type=int, default=42, help="seed of both sides (the release demo's default)")
    parser.add_argument("--device", help="torch device (default cuda if available, else cpu)")
    args = parser.parse_args(argv)
    args.only = [ALIASES.get(p, p) for item in args.only for p in item.split(",") if p]
    unknown = sorted(set(args.only) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if args.pred_steps is None:
        args.pred_steps = 3 if args.tiny else 50
    if args.pred_steps < 1:
        parser.error("--pred-steps must be >= 1")
    if not args.release_dir.is_absolute():
        args.release_dir = REPO / args.release_dir
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    print(f"{describe_device(device)}; python {sys.version.split()[0]}")
    failed: list[str] = []

    def fail(part: str, exc: BaseException) -> None:
        print(f"FAILED {part}: {_one_line(exc)}", flush=True)
        traceback.print_exc(file=sys.stderr)
        failed.append(part)

    bench = None
    try:
        args.release = load_release(args.release_dir)
        print(f"release InternRobotics/Aether commit {args.release.commit} ({args.release_dir})"
              + (f"; placeholders for missing {', '.join(args.release.placeholders)}" if args.release.placeholders
                 else ""))
        start = time.perf_counter()
        sizes = TINY if args.tiny else FULL
        sides = (build_from_folder(args.release, args.folder, args.tiny, device) if args.folder
                 else build_shared(args.release, sizes, args.tiny, device, args.seed))
        synchronize(device)
        print(f"models: {sides.what} (built in {time.perf_counter() - start:.1f} s); seed {args.seed}, fps {FPS}; "
              f"parts {', '.join(args.only)}", flush=True)
        bench = Bench(sides, args, device)
    except Exception as exc:
        fail("setup", exc)
    if bench is not None:
        try:
            bench.warm_up()
        except Exception as exc:
            fail("warm-up", exc)

    if bench is not None:
        for part in (p for p in PARTS if p in args.only):
            try:
                getattr(bench, part)()
            except Exception as exc:
                fail(part, exc)

    results = bench.results if bench else []
    print(f"summary: {len(results)} result(s)" + (f", FAILED: {', '.join(failed)}" if failed else ""))
    for line in results:
        print(line)
    if not results:
        print(result_line("release_side_by_side", device, ratio=math.nan, value=math.nan, memory=math.nan))
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
