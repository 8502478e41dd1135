"""`aether app`'s jobs without a browser: each writes what the CLI command writes for the same input (an mp4
and its PNG frames made by ffmpeg, zipped by `zip`), a named motion's speed scales its path, bad input fails
with the CLI's message, session folders are removed, and without Gradio the command says how to install it."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from aether.codecs.cameras import read_tum
from aether.core.cli import main
from aether.core.errors import ClipError
from aether.core.media import write_png
from aether.core.testing.tiny_model import write_tiny_model
from aether.tasks.app.jobs import CameraChoice, LoadedModel, Settings, unpack_video
from aether.tasks.app.sessions import SessionFolders
from aether.tasks.pipeline import AetherPipeline, TaskInputError
from aether.tasks.trajectories import named_trajectory

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args) -> None:
    subprocess.run([FFMPEG, "-loglevel", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> LoadedModel:
    folder = write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    return LoadedModel(AetherPipeline.from_pretrained(folder, device="cpu"), folder)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """9 frames of ffmpeg's test pattern at 12 fps, the tiny model's 48 x 32."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=48x32:rate=12", "-frames:v", 9, "-pix_fmt", "yuv420p", path)
    return path


def cli(*argv) -> None:
    assert main([str(a) for a in argv]) == 0


def same_result(app_out: Path, cli_out: Path, rtol: float = 0.0) -> None:
    np.testing.assert_allclose(np.load(app_out / "result_depth.npy"), np.load(cli_out / "result_depth.npy"),
                               rtol=rtol)
    np.testing.assert_allclose(read_tum(app_out / "result_trajectory.txt")[1],
                               read_tum(cli_out / "result_trajectory.txt")[1], rtol=rtol, atol=rtol)


@pytest.mark.slow
def test_reconstruct_writes_what_the_cli_writes_from_an_mp4_and_a_zip_of_its_frames(model, clip, tmp_path):
    output = model.reconstruct(tmp_path / "job", clip, Settings(steps=2, smooth="released"))
    cli("reconstruct", clip, "--model", model.folder, "--out", tmp_path / "cli", "--steps", 2, "--smooth", "released")
    same_result(tmp_path / "job" / "out", tmp_path / "cli")
    with zipfile.ZipFile(output.archive) as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in (tmp_path / "cli").iterdir())
    assert set(output.files) >= {"scene_glb", "disparity_video", "trajectory_plot"}
    assert all(path.is_file() for path in output.files.values())

    frames = tmp_path / "frames" / "walk" / "rgb"  # the zip's one top folder holds the frame folder
    frames.mkdir(parents=True)
    ffmpeg("-i", clip, frames / "%04d.png")
    subprocess.run(["zip", "-qr", tmp_path / "walk.zip", "walk"], cwd=tmp_path / "frames", check=True) \
        if shutil.which("zip") else shutil.make_archive(str(tmp_path / "walk"), "zip", tmp_path / "frames")
    model.reconstruct(tmp_path / "zipjob", tmp_path / "walk.zip", Settings(steps=2, fps=12))
    cli("reconstruct", frames.parent, "--model", model.folder, "--out", tmp_path / "cli-frames", "--steps", 2)
    same_result(tmp_path / "zipjob" / "out", tmp_path / "cli-frames")


@pytest.mark.slow
def test_a_named_motion_at_speed_one_is_the_clis_named_path(model, tmp_path):
    image = write_png(tmp_path / "obs.png", np.random.default_rng(0).integers(0, 255, (32, 48, 3), np.uint8))
    camera = CameraChoice(source="named motion", motion="orbit-left", speed=1.0)
    model.predict(tmp_path / "job", image, camera, Settings(steps=2, frames=9))
    cli("predict", image, "--named", "orbit-left", "--frames", 9, "--steps", 2, "--model", model.folder,
        "--out", tmp_path / "cli")
    # the same path, through a TUM file: its 9 decimals move the random model's depth by ~1e-5
    same_result(tmp_path / "job" / "out", tmp_path / "cli", rtol=1e-4)
    np.testing.assert_allclose(read_tum(tmp_path / "job" / "out" / "camera_path.txt")[1],
                               named_trajectory("orbit-left", 9), atol=1e-8)


def test_speed_scales_the_named_path(tmp_path):
    argv = CameraChoice(source="named motion", motion="orbit-left", speed=2.5).argv(
        Settings(seed=3), default_frames=17, out=tmp_path)
    assert argv == ["--seed", "3", "--frames", "17", "--trajectory", str(tmp_path / "camera_path.txt")]
    c2w = read_tum(tmp_path / "camera_path.txt")[1]
    np.testing.assert_allclose(c2w, named_trajectory("orbit-left", 17, step=0.125, degrees=5.0), atol=1e-8)


def test_an_uploaded_path_keeps_its_own_frame_count(tmp_path):
    settings = Settings(steps=4, guidance=2.5, frames=41, fps=8, smooth="rts")
    raymap = CameraChoice(source="raymap .npy", file=tmp_path / "r.npy").argv(settings, 41, tmp_path)
    assert raymap == ["--steps", "4", "--guidance", "2.5", "--seed", "0", "--fps", "8.0", "--smooth", "rts", "--raymap",
                      str(tmp_path / "r.npy")]
    with pytest.raises(TaskInputError, match="no file was uploaded"):
        CameraChoice(source="TUM file").argv(settings, 41, tmp_path)


def test_bad_input_fails_with_the_clis_message(model, clip, tmp_path):
    image = write_png(tmp_path / "obs.png", np.zeros((32, 48, 3), np.uint8))
    np.save(tmp_path / "wrong.npy", np.zeros((9, 6, 5, 5), np.float32))
    with pytest.raises(TaskInputError, match=r"raymap must be \(F, 6, 4, 6\) for this model, got \(9, 6, 5, 5\)"):
        model.predict(tmp_path / "a", image, CameraChoice(source="raymap .npy", file=tmp_path / "wrong.npy"),
                      Settings(steps=1))
    with pytest.raises(TaskInputError, match="has 10 frames; one pass needs 8m"):
        model.predict(tmp_path / "b", image, CameraChoice(), Settings(frames=10))
    short = tmp_path / "short.mp4"
    ffmpeg("-i", clip, "-frames:v", 5, short)
    with pytest.raises(TaskInputError, match="video has 5 frames; reconstruction needs at least 9"):
        model.reconstruct(tmp_path / "c", short, Settings())
    with pytest.raises(TaskInputError, match="upload a video first"):
        model.reconstruct(tmp_path / "d", None, Settings())


def test_a_zip_is_unpacked_to_its_frame_folder_and_a_bad_one_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "flat.zip", "w") as archive:
        archive.writestr("rgb/0000.png", b"")
        archive.writestr("meta.json", "{}")
    assert unpack_video(tmp_path / "flat.zip", tmp_path / "a") == tmp_path / "a" / "frames"
    with zipfile.ZipFile(tmp_path / "nested.zip", "w") as archive:
        archive.writestr("__MACOSX/._x", b"")
        archive.writestr("outer/clip/rgb/0000.png", b"")
    assert unpack_video(tmp_path / "nested.zip", tmp_path / "b") == tmp_path / "b" / "frames" / "outer" / "clip"
    assert unpack_video(tmp_path / "clip.mp4", tmp_path / "c") == tmp_path / "clip.mp4"
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(ClipError, match="bad.zip: not a readable zip"):
        unpack_video(tmp_path / "bad.zip", tmp_path / "d")


def test_session_folders_are_removed_with_their_session_and_at_close(tmp_path):
    sessions = SessionFolders(tmp_path)
    first = sessions.new_job("abc")
    (first / "upload.mp4").write_bytes(b"x")
    second = sessions.new_job("abc")
    other = sessions.new_job("xyz")
    assert not first.exists() and second.is_dir() and other.is_dir()  # a session keeps its latest job only
    sessions.end("abc")
    assert not second.parent.exists() and other.is_dir()
    with pytest.raises(ValueError, match="session id '../x'"):
        sessions.new_job("../x")
    sessions.close()
    assert list(tmp_path.iterdir()) == []


def test_page_messages_leave_the_servers_folders_out(tmp_path):
    pytest.importorskip("gradio")
    from aether.tasks.app.page import page_message

    root = tmp_path / "aether-app-x"
    text = f"{root}/gradio/3f2a/clip.mp4: cannot read video (moov atom not found); is it a valid mp4?"
    assert page_message(text, root) == "clip.mp4: cannot read video (moov atom not found); is it a valid mp4?"


def test_without_gradio_the_command_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio now fails as when it is not installed
    assert main(["app", "--model", str(tmp_path)]) == 2
    assert "pip install 'aether-tasks[app]'" in capsys.readouterr().err
