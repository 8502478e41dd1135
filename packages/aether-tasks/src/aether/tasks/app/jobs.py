"""The app's jobs. Each runs the command ``aether reconstruct | predict | plan`` itself (its parser, its input
checks, sampling and writers, so the page accepts and writes exactly what the CLI does) on the model loaded at
start, in a job folder, and packs what it wrote into one zip."""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from aether.core.cli_help import AetherArgumentParser
from aether.core.errors import ClipError
from aether.tasks.commands import DEFAULT_FPS, plan_command, predict_command, reconstruct_command
from aether.tasks.outputs import output_files
from aether.tasks.pipeline import AetherPipeline, TaskInputError
from aether.tasks.trajectories import DEFAULT_DEGREES, DEFAULT_STEP, named_trajectory

NAME = "result"  # file stem of every job's outputs, as `--name result`
COMMANDS = {"reconstruct": reconstruct_command, "predict": predict_command, "plan": plan_command}
CameraSource = Literal["none", "named motion", "TUM file", "raymap .npy"]
MAX_UNZIPPED_BYTES = 4 << 30  # a zip that unpacks to more is refused: no clip the model takes is that large


class Settings(BaseModel):
    """The advanced panel: the command's options; None leaves the command's default (the task's steps and
    guidance, the video's frame rate, the model's frame count)."""

    model_config = ConfigDict(extra="forbid")

    steps: int | None = None
    guidance: float | None = None
    seed: int = 0
    fps: float | None = None
    frames: int | None = None
    smooth: Literal["off", "rts", "released"] = "off"

    def argv(self) -> list[str]:
        """The command-line options of these settings."""
        values = self.model_dump(exclude_none=True)
        if values["smooth"] == "off":
            del values["smooth"]
        return [text for name, value in values.items() for text in (f"--{name}", str(value))]


class CameraChoice(BaseModel):
    """The camera path of a prediction or a plan: none, a named motion at a ``speed`` (1: the CLI's ``--named``
    path), or an uploaded TUM file or raymap ``.npy``."""

    model_config = ConfigDict(extra="forbid")

    source: CameraSource = "none"
    motion: str = "forward"
    speed: float = 1.0
    file: Path | None = None

    def argv(self, settings: Settings, default_frames: int, out: Path) -> list[str]:
        """The command-line options of this path and of ``settings``: a named motion is written to
        ``out/camera_path.txt`` (TUM) with ``settings.frames`` (default ``default_frames``) poses; an uploaded
        path has its own frame count, so ``settings.frames`` is left out then."""
        if self.source == "none":
            return settings.argv()
        if self.source == "named motion":
            from aether.codecs.cameras import write_tum

            frames = settings.frames or default_frames
            c2w = named_trajectory(self.motion, frames, step=self.speed * DEFAULT_STEP,
                                   degrees=self.speed * DEFAULT_DEGREES)
            out.mkdir(parents=True, exist_ok=True)
            path = write_tum(out / "camera_path.txt", np.arange(frames) / (settings.fps or DEFAULT_FPS), c2w)
            return [*settings.model_copy(update={"frames": frames}).argv(), "--trajectory", str(path)]
        if self.file is None:
            raise TaskInputError(f"camera path is set to {self.source} but no file was uploaded; upload one or "
                                 "choose another camera path")
        flag = "--raymap" if self.source == "raymap .npy" else "--trajectory"
        return [*settings.model_copy(update={"frames": None}).argv(), flag, str(self.file)]


@dataclass(frozen=True)
class JobOutput:
    """What one job wrote: the output files by manifest key (see :func:`aether.tasks.outputs.output_files`),
    one zip of all of them and the manifest, and the command's warnings."""

    files: dict[str, Path]
    archive: Path
    warnings: list[str]


@dataclass(frozen=True)
class LoadedModel:
    """The pipeline loaded once at start and its folder (the commands' ``--model``)."""

    pipeline: AetherPipeline
    folder: Path

    def run(self, command: str, argv: list[str], job: Path) -> JobOutput:
        """Run ``aether <command> *argv --model ... --out job/out --name result`` on the loaded pipeline."""
        parser = AetherArgumentParser(prog=f"aether {command}")
        run = COMMANDS[command](parser)
        out = job / "out"
        args = parser.parse_args([*argv, "--model", str(self.folder), "--out", str(out), "--name", NAME])
        args.pipeline = self.pipeline
        said = io.StringIO()
        try:
            with contextlib.redirect_stderr(said):  # the command's warnings, for the page
                run(args)
        finally:
            sys.stderr.write(said.getvalue())  # and the server's log keeps all it said
        warnings = [line.removeprefix("warning: ") for line in said.getvalue().splitlines()
                    if line.startswith("warning: ")]
        archive = Path(shutil.make_archive(str(job / NAME), "zip", out))
        return JobOutput({key: out / name for key, name in output_files(NAME).items()}, archive, warnings)

    def reconstruct(self, job: Path, video: Path | None, settings: Settings) -> JobOutput:
        """``aether reconstruct`` of an uploaded video file or zip of frames."""
        return self.run("reconstruct", [str(unpack_video(_given(video, "a video"), job)), *settings.argv()], job)

    def predict(self, job: Path, image: Path | None, camera: CameraChoice, settings: Settings) -> JobOutput:
        """``aether predict`` from one image along ``camera``."""
        argv = camera.argv(settings, self.pipeline.default_frames, job / "out")
        return self.run("predict", [str(_given(image, "an image")), *argv], job)

    def plan(self, job: Path, observation: Path | None, goal: Path | None, camera: CameraChoice,
             settings: Settings) -> JobOutput:
        """``aether plan`` from an observation image to a goal image, along ``camera`` if given."""
        argv = camera.argv(settings, self.pipeline.default_frames, job / "out")
        return self.run("plan", [str(_given(observation, "an observation image")),
                                 str(_given(goal, "a goal image")), *argv], job)


def _given(path: Path | None, what: str) -> Path:
    if path is None:
        raise TaskInputError(f"no input: upload {what} first")
    return Path(path)


def unpack_video(upload: Path, job: Path) -> Path:
    """A video file as it is; a zip of frames unpacked into ``job/frames``, as the frame folder it holds (the
    zip's one top folder, if it has just one and that is not ``rgb/``)."""
    if upload.suffix.lower() != ".zip":
        return upload
    folder = job / "frames"
    try:
        with zipfile.ZipFile(upload) as archive:
            size = sum(member.file_size for member in archive.infolist())
            if size > MAX_UNZIPPED_BYTES:
                raise ClipError(f"{upload.name} unpacks to {size / 2**30:.1f} GiB, more than the "
                                f"{MAX_UNZIPPED_BYTES / 2**30:g} GiB allowed; upload fewer or smaller frames")
            archive.extractall(folder)  # member names with .. or a leading / are kept inside `folder`
    except zipfile.BadZipFile as exc:
        raise ClipError(f"{upload.name}: not a readable zip ({exc}); upload an mp4 or a zip of frames") from None
    while len(entries := [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]) == 1 \
            and entries[0].is_dir() and entries[0].name != "rgb":
        folder = entries[0]
    return folder
