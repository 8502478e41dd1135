"""Damaged model folders, training configs, checkpoints and run logs found by fuzzing: each used to crash with a
traceback, hang, or go on with wrong weights or settings. Now each is refused with one ``error:`` line (exit 2)
naming the file and what is wrong, or, for a training checkpoint, passed over for the previous one with a warning."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from aether.core.cli import main
from aether.core.errors import CheckpointError
from aether.core.testing.tiny_model import write_tiny_model
from aether.tasks.pipeline import AetherPipeline
from aether.train import checkpoint as ckpt
from aether.train.config import dump_config
from aether.train.loop import train
from aether.train.runlog import RunLog, read_log
from safetensors.torch import load_file, save_file

WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"
VAE_WEIGHTS = "vae/diffusion_pytorch_model.safetensors"
PROMPT = "empty_prompt_embeds.safetensors"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def model(tiny_model, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_model, tmp_path / "model"))


def _edit_json(file: str, **changes) -> Callable[[Path], None]:
    def spoil(folder: Path) -> None:
        path = folder / file
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return spoil


def _edit_weights(file: str, change: Callable[[dict], dict]) -> Callable[[Path], None]:
    return lambda folder: save_file(change(load_file(str(folder / file))), str(folder / file))


def _first(tensors: dict) -> str:
    return sorted(tensors)[0]


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


# config damage -> words of the one-line error of `aether model info` (it used to print a traceback, or hang)
CONFIGS = {
    "sample_height a string": (_edit_json("transformer/config.json", sample_height="4"),
                               "transformer/config.json: sample_height must be a whole number from 1 to 1024, not '4'"),
    "patch_size 0": (_edit_json("transformer/config.json", patch_size=0), "patch_size must be a whole number"),
    "sample_frames a string": (_edit_json("transformer/config.json", sample_frames="9"),
                               "sample_frames must be a whole number"),
    "num_layers a billion": (_edit_json("transformer/config.json", num_layers=10**9),
                             "num_layers must be a whole number from 1 to 1024, not 1000000000"),
    "vae layers_per_block a billion": (_edit_json("vae/config.json", layers_per_block=10**9),
                                       "vae/config.json: layers_per_block must be a whole number from 1 to 64"),
    "vae block_out_channels a string": (_edit_json("vae/config.json", block_out_channels="8"),
                                        "block_out_channels must be a list of whole numbers"),
    "vae scaling_factor a string": (_edit_json("vae/config.json", scaling_factor="x"),
                                    "scaling_factor must be a number, not 'x'"),
    "aether.json not UTF-8": (lambda folder: (folder / "aether.json").write_bytes(b"\xff\xfe{}"),
                              "aether.json is invalid ('utf-8' codec can't decode"),
    "no train timesteps": (_edit_json("scheduler/scheduler_config.json", num_train_timesteps=0),
                           "num_train_timesteps must be a whole number from 1 to 100000, not 0"),
    "unknown prediction type": (_edit_json("scheduler/scheduler_config.json", prediction_type="zzz"),
                                "prediction_type must be one of v_prediction, epsilon, sample, not 'zzz'"),
    "beta_start a string": (_edit_json("scheduler/scheduler_config.json", beta_start="x"),
                            "beta_start must be a number between 0 and 1"),
    "unknown timestep spacing": (_edit_json("scheduler/scheduler_config.json", timestep_spacing="zzz"),
                                 "timestep_spacing must be one of trailing, leading, linspace"),
    "unknown beta schedule": (_edit_json("scheduler/scheduler_config.json", beta_schedule="weird"),
                              "beta_schedule must be one of"),
}


@pytest.mark.parametrize("case", CONFIGS)
def test_a_damaged_config_is_refused_in_one_line(case, model, capsys):
    spoil, words = CONFIGS[case]
    spoil(model)
    assert words in _one_line_error(["model", "info", str(model)], capsys)


# weights or embedding damage -> words of the CheckpointError of from_pretrained (it used to crash deep in torch, or
# load integer weights and run with them)
WEIGHT_DAMAGES = {
    "a transformer tensor missing": (_edit_weights(WEIGHTS, lambda t: {k: v for k, v in t.items() if k != _first(t)}),
                                     "lacks 1 tensors the config needs (e.g. norm_final.bias)"),
    "no num_layers (the default 30 layers)": (
        lambda folder: (folder / "transformer/config.json").write_text(json.dumps(
            {k: v for k, v in json.loads((folder / "transformer/config.json").read_text()).items() if k != "num_layers"})),
        "lacks 696 tensors the config needs"),
    "an extra transformer tensor": (_edit_weights(WEIGHTS, lambda t: {**t, "extra.weight": torch.zeros(2)}),
                                    "holds 1 tensors the config has no place for (e.g. extra.weight)"),
    "int64 transformer weights": (_edit_weights(WEIGHTS, lambda t: {k: v.long() for k, v in t.items()}),
                                  "holds I64 values, not floating point"),
    "a vae tensor of the wrong shape": (_edit_weights(VAE_WEIGHTS, lambda t: {**t, _first(t): torch.zeros(2)}),
                                        "has shape (2,) but the config needs"),
    "a vae config of 4 latent channels": (_edit_json("vae/config.json", latent_channels=4),
                                          "tensor encoder.conv_out.conv.weight has shape (32, 8, 3, 3, 3) but the config needs (8, 8, 3, 3, 3)"),
    "int64 prompt embedding": (lambda folder: save_file({"prompt_embeds": torch.zeros(1, 226, 16, dtype=torch.int64)},
                                                        str(folder / PROMPT)),
                               "'prompt_embeds' must hold finite floating-point values, found torch.int64"),
    "NaN prompt embedding": (lambda folder: save_file({"prompt_embeds": torch.full((1, 226, 16), float("nan"))},
                                                      str(folder / PROMPT)), "found non-finite values"),
    "prompt embedding of another length": (
        lambda folder: save_file({"prompt_embeds": torch.zeros(1, 10, 16)}, str(folder / PROMPT)),
        "holds 10 tokens but the transformer's max_text_seq_length is 226"),
}


@pytest.mark.parametrize("case", WEIGHT_DAMAGES)
def test_weights_that_do_not_fit_the_config_are_refused_before_loading(case, model):
    spoil, words = WEIGHT_DAMAGES[case]
    spoil(model)
    with pytest.raises(CheckpointError) as info:
        AetherPipeline.from_pretrained(model, device="cpu")
    assert words in str(info.value) and "\n" not in str(info.value), str(info.value)


# ---------------------------------------------------------------- training configs
BASE = "out: run\nsteps: 3\ndata: {clips: [c]}\n"
YAMLS = {
    "a duplicate key": (BASE + "steps: 30\n", "not valid YAML (duplicate key 'steps'", "line 4, column 1"),
    "not UTF-8": (b"out: \xff\n", "not UTF-8 text"),
    "nested too deeply": ("out: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "an infinite lr": (BASE + "optim: {lr: 1e999}\n", "optim.lr: Input should be a finite number"),
    "NaN task shares": (BASE + "tasks: {probabilities: {planning: .nan}}\n", "tasks.probabilities.planning"),
    "steps: true": ("out: run\nsteps: true\ndata: {clips: [c]}\n", "steps: Value error, expected a value of another type"),
    "a seed too large": (BASE + "seed: 100000000000000000000000000\n", "seed: Input should be less than"),
    "a negative seed": (BASE + "seed: -1\n", "seed: Input should be greater than or equal to 0"),
    "an empty out": ("out: ''\nsteps: 3\ndata: {clips: [c]}\n", "out: Value error, must name a folder"),
    "a huge height": (BASE.replace("[c]}", "[c], height: 16000000}"), "data.height: Input should be less than or equal"),
    "an unknown tiny option": (BASE + "model: {tiny: {bogus: 1}}\n", "model.tiny", "unknown CogVideoXTransformer3DModel"),
    "a billion tiny layers": (BASE + "model: {tiny: {num_layers: 1000000000}}\n",
                              "model.tiny: Value error, num_layers must be a whole number from 1 to 1024"),
    "no tiny layers": (BASE + "model: {tiny: {num_layers: -1}}\n", "num_layers must be a whole number"),
    "tabs": ("out: run\n\tsteps: 3\n", "not valid YAML (while scanning for the next token found character"),
}


@pytest.mark.parametrize("case", YAMLS)
def test_a_bad_training_config_is_refused_in_one_line(case, tmp_path, capsys):
    text, *words = YAMLS[case]
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    line = _one_line_error(["train", str(path)], capsys)
    assert all(word in line for word in words), line
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- checkpoints and run logs
@pytest.fixture(scope="module")
def run(clips, tiny_config, tmp_path_factory) -> Path:
    """A finished 4-step run with checkpoints at steps 2 and 4."""
    folder = tmp_path_factory.mktemp("run")
    config = tiny_config(clips, folder / "run", steps=4, checkpoint_every=2, micro_batch=2, eval_examples=0, export=False)
    train(config)
    (folder / "config.yaml").write_text(dump_config(config))
    return folder


@pytest.fixture
def copy(run, tmp_path) -> Path:
    shutil.copytree(run, tmp_path, dirs_exist_ok=True)
    (tmp_path / "config.yaml").write_text((run / "config.yaml").read_text().replace(str(run), str(tmp_path)))
    return tmp_path / "run"


LAST, BEFORE = "step_00000004", "step_00000002"


def _meta(**changes) -> Callable[[Path], None]:
    return _edit_json(f"{ckpt.CHECKPOINTS}/{LAST}/{ckpt.META}", **changes)


def _state(change: Callable[[dict], dict]) -> Callable[[Path], None]:
    def spoil(run: Path) -> None:
        path = run / ckpt.CHECKPOINTS / LAST / ckpt.STATE
        torch.save(change(torch.load(path, weights_only=True)), path)
    return spoil


def _optimizer(change: Callable[[dict], dict]) -> Callable[[Path], None]:
    return _state(lambda state: {**state, "optimizer": change(state["optimizer"])})


def _no_meta_key(key: str) -> Callable[[Path], None]:
    def spoil(run: Path) -> None:
        path = run / ckpt.CHECKPOINTS / LAST / ckpt.META
        path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != key}))
    return spoil


# damage to the newest checkpoint -> words of the warning (each used to crash the resume or the export, or
# resume silently with the wrong weights or step)
CHECKPOINT_DAMAGES = {
    "meta config a string": (_meta(config="x"), "meta.json cannot be read (config: a JSON str, not the object"),
    "meta without its transformer config": (_no_meta_key("transformer_config"),
                                            "(transformer_config: no value, not the object"),
    "meta step of another folder": (_meta(step=-4), "(step -4 in the folder of step 00000004)"),
    "meta transformer of a billion layers": (
        lambda run: _meta(transformer_config={**json.loads(
            (run / ckpt.CHECKPOINTS / LAST / ckpt.META).read_text())["transformer_config"], "num_layers": 10**9})(run),
        "meta.json transformer_config: num_layers must be a whole number from 1 to 1024"),
    "meta scheduler config a list": (_meta(scheduler_config=[]), "(scheduler_config: a JSON list, not the object"),
    "next step true": (_state(lambda s: {**s, "sampler": {"next_step": True}}),
                       "lacks the optimizer, schedule, sampler or RNG state"),
    "negative next step": (_state(lambda s: {**s, "sampler": {"next_step": -5}}),
                           "state.pt cannot be read (its step -5 and schedule step 4 are not meta.json's 4)"),
    "empty schedule": (_state(lambda s: {**s, "lr_schedule": {}}), "schedule step None"),
    "optimizer a string": (_state(lambda s: {**s, "optimizer": "x"}), "lacks the optimizer, schedule"),
    "optimizer without state": (_optimizer(lambda o: {**o, "state": {}}), "its optimizer state is not for"),
    "RNG state of floats": (_state(lambda s: {**s, "rng": {"torch": torch.zeros(3)}}),
                            "its RNG state is a torch.float32 tensor of shape (3,)"),
    "a tensor missing": (_edit_weights(f"{ckpt.CHECKPOINTS}/{LAST}/{ckpt.MODEL}",
                                       lambda t: {k: v for k, v in t.items() if k != _first(t)}),
                         "lacks 1 tensors the config needs (e.g. transformer.norm_final.bias)"),
    "an extra tensor": (_edit_weights(f"{ckpt.CHECKPOINTS}/{LAST}/{ckpt.MODEL}", lambda t: {**t, "x": torch.zeros(1)}),
                        "holds 1 tensors the config has no place for (e.g. x)"),
    "int64 weights": (_edit_weights(f"{ckpt.CHECKPOINTS}/{LAST}/{ckpt.MODEL}",
                                    lambda t: {k: v.long() for k, v in t.items()}), "holds torch.int64 values"),
    "garbage prompt embedding": (lambda run: (run / ckpt.CHECKPOINTS / LAST / PROMPT).write_bytes(b"garbage"),
                                 "empty_prompt_embeds.safetensors is not a readable safetensors file"),
}


@pytest.mark.parametrize("damage", CHECKPOINT_DAMAGES)
def test_a_damaged_newest_checkpoint_is_passed_over_with_a_warning(damage, copy, capsys):
    spoil, words = CHECKPOINT_DAMAGES[damage]
    spoil(copy)
    found = ckpt.newest_readable(copy)
    assert found is not None and found.path.name == BEFORE and found.next_step == 2
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and words in warning[0], warning
    assert warning[0].startswith("warning: ") and f"resuming from {BEFORE} instead" in warning[0]


def test_export_of_a_checkpoint_with_a_damaged_meta_is_refused_in_one_line(copy, capsys):
    _no_meta_key("video_codec")(copy)  # export used to fail with KeyError: 'video_codec'
    line = _one_line_error(["train", "export", str(copy / ckpt.CHECKPOINTS / LAST), str(copy.parent / "out")], capsys)
    assert "meta.json cannot be read (video_codec: no value, not the string a checkpoint writes)" in line


@pytest.mark.parametrize("change, words", [
    (lambda t: {k: v.long() for k, v in t.items()}, "holds torch.int64 values, not floating point"),  # was exported
    (lambda t: {**t, _first(t): torch.zeros(3, 3)}, "has shape (3, 3) but the config needs (32,)"),  # was a traceback
])
def test_export_of_weights_that_do_not_fit_is_refused_in_one_line(change, words, copy, capsys):
    _edit_weights(f"{ckpt.CHECKPOINTS}/{LAST}/{ckpt.MODEL}", change)(copy)
    line = _one_line_error(["train", "export", str(copy / ckpt.CHECKPOINTS / LAST), str(copy.parent / "out")], capsys)
    assert f"{LAST}/model.safetensors" in line and words in line, line
    assert not (copy.parent / "out").exists()


def test_resume_over_a_damaged_checkpoint_and_log_finishes_the_run(copy, capsys):
    _meta(config=[1])(copy)  # resume used to fail with AttributeError: 'list' object has no attribute 'keys'
    log = copy / "log.jsonl"
    log.write_bytes(b"garbage\n\xff\xfe\n[1]\n" + log.read_bytes())  # each used to crash the resume
    assert main(["train", str(copy.parent / "config.yaml"), "--resume"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(err) == 2, err
    assert "meta.json cannot be read (config: a JSON list" in err[0] and f"resuming from {BEFORE}" in err[0]
    assert err[1] == f"warning: {log}: dropped 3 unreadable line(s) (line 1, 2, 3); the other records are kept"
    assert [r["step"] for r in read_log(log)] == [0, 1, 2, 3]


@pytest.mark.parametrize("line", [b"garbage", b"\xff\xfe", b'{"step": "x"}', b"[1]"])
def test_read_log_names_a_damaged_line(line, tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"step": 0}\n' + line + b"\n")
    with pytest.raises(CheckpointError, match=r"log.jsonl: line 2 is not a JSON record with a whole-number step"):
        read_log(path)
    RunLog(path, resume_step=5)  # a resume keeps what it can read
    assert read_log(path) == [{"step": 0}]
