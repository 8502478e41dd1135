"""``aether model``: ``init-from-cogvideox SRC DST``, ``info DIR``, ``embed-prompt DIR``.

Heavy imports (torch, diffusers, transformers) happen inside the ``run`` functions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from aether.core.cli_help import examples
from aether.core.dtypes import DTYPES, dtype_name, torch_dtype



def _init(args: argparse.Namespace) -> int:
    from aether.core.init_from_cogvideox import init_from_cogvideox
    from aether.core.model_folder import PROMPT_EMBEDS_FILE, VAE

    dst = init_from_cogvideox(args.src, args.dst, overwrite=args.overwrite, dtype=torch_dtype(args.dtype))
    print(f"wrote {dst}")
    # the folder is not usable until these are added: say so rather than let the next command discover it
    if not (dst / VAE).is_dir():
        print(f"note: {args.src} has no vae/; copy CogVideoX-5b-I2V's vae/ into {dst} before using it")
    if not (dst / PROMPT_EMBEDS_FILE).is_file():
        print(f"note: {dst} has no {PROMPT_EMBEDS_FILE}; run `aether model embed-prompt {dst} --t5 "
              "CogVideoX-5b-I2V` or copy the file in")
    return 0


def _weight_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))


def model_info(path: str | Path) -> dict[str, Any]:
    """What a model folder holds: settings, transformer shape, weight files, scheduler, prompt embedding."""
    from aether.core.model_folder import ModelFolder

    folder = ModelFolder(path, require_prompt_embeds=False)
    cfg = folder.transformer_config()
    keys = ("num_layers", "num_attention_heads", "attention_head_dim", "in_channels", "out_channels",
            "text_embed_dim", "time_embed_dim", "patch_size", "patch_size_t", "sample_height", "sample_width",
            "max_text_seq_length", "use_rotary_positional_embeddings")
    files = _weight_files(folder.transformer_dir)
    scheduler = json.loads((folder.scheduler_dir / "scheduler_config.json").read_text())
    embeds = list(folder.prompt_embeds().shape) if folder.prompt_embeds_path.is_file() else None
    return {"path": str(folder.path), "settings": folder.settings.model_dump(),
            "transformer": {k: cfg.get(k) for k in keys},
            "weight_files": [f.name for f in files], "weight_bytes": sum(f.stat().st_size for f in files),
            "scheduler": scheduler.get("_class_name"), "prediction_type": scheduler.get("prediction_type"),
            "prompt_embeds": embeds}


def _info(args: argparse.Namespace) -> int:
    info = model_info(args.dir)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        elif value is None and key == "prompt_embeds":
            value = "MISSING (run `aether model embed-prompt` or copy empty_prompt_embeds.safetensors)"
        print(f"{key}: {value}")
    return 0


def compute_empty_prompt_embeds(t5_dir: str | Path, max_length: int):
    """The T5 embedding ``(1, max_length, D)`` of the empty prompt, as CogVideoX pipelines compute it.

    ``t5_dir`` holds ``tokenizer/`` and ``text_encoder/`` (CogVideoX's layout). Needs the ``t5`` extra (transformers).
    """
    from aether.core.errors import CheckpointError

    t5_dir = Path(t5_dir)
    try:
        import torch
        from transformers import T5EncoderModel, T5Tokenizer
    except ImportError as exc:
        raise CheckpointError(f"computing the empty prompt embedding needs transformers ({exc}) and T5 weights; "
                              "pip install 'aether-core[t5]', or supply empty_prompt_embeds.safetensors") from exc
    missing = [name for name in ("tokenizer", "text_encoder") if not (t5_dir / name).is_dir()]
    if missing:
        raise CheckpointError(f"{t5_dir} has no {' or '.join(n + '/' for n in missing)} (T5 weights); pass --t5 with a "
                              "CogVideoX-5b-I2V folder, or supply empty_prompt_embeds.safetensors")
    try:
        tokenizer = T5Tokenizer.from_pretrained(t5_dir / "tokenizer")
        encoder = T5EncoderModel.from_pretrained(t5_dir / "text_encoder").eval()
    except Exception as exc:  # transformers raises JSON, safetensors, OS and value errors on damaged folders
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"cannot load T5 from {t5_dir}/tokenizer and text_encoder ({first}); re-copy them "
                              "from CogVideoX-5b-I2V") from None
    ids = tokenizer([""], padding="max_length", max_length=max_length, truncation=True,
                    add_special_tokens=True, return_tensors="pt").input_ids
    with torch.no_grad():
        return encoder(ids)[0].float()


def _embed_prompt(args: argparse.Namespace) -> int:
    from aether.core.errors import CheckpointError
    from aether.core.model_folder import ModelFolder, write_prompt_embeds

    folder = ModelFolder(args.dir, require_prompt_embeds=False)
    if folder.prompt_embeds_path.is_file() and not args.overwrite:
        print(f"{folder.prompt_embeds_path} exists; pass --overwrite to recompute it")
        return 0
    config = folder.transformer_config()
    max_length = config.get("max_text_seq_length") or 226  # null: diffusers' default length
    embeds = compute_empty_prompt_embeds(args.t5 or folder.path, max_length)
    width = config.get("text_embed_dim")
    if width is not None and embeds.shape[2] != width:  # the folder would refuse the file it was given
        raise CheckpointError(f"T5 in {args.t5 or folder.path} gives embeddings of width {embeds.shape[2]} but "
                              f"{folder.transformer_dir / 'config.json'} has text_embed_dim {width}; pass --t5 with "
                              "the T5 this model was trained with (CogVideoX-5b-I2V's)")
    print(f"wrote {write_prompt_embeds(folder.path, embeds)} {tuple(embeds.shape)}")
    return 0


def model_command(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the ``model`` subcommands to ``parser``; returns the dispatcher."""
    parser.epilog = examples("aether model init-from-cogvideox CogVideoX-5b-I2V aether-model",
                             "aether model info aether-model")
    sub = parser.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)

    summary = "expand a CogVideoX-I2V transformer into an AETHER model folder"
    init = sub.add_parser("init-from-cogvideox", help=summary, description=summary,
                          epilog=examples("aether model init-from-cogvideox CogVideoX-5b-I2V aether-model "
                                          "--dtype bf16"))
    init.add_argument("src", help="CogVideoX-I2V folder (with transformer/) or a transformer folder")
    init.add_argument("dst", help="the AETHER model folder to write")
    init.add_argument("--dtype", type=dtype_name, choices=DTYPES, default="bf16",
                      help="weight dtype to write (float32, bfloat16, float16 are accepted too)")
    init.add_argument("--overwrite", action="store_true", help="replace an existing DST")
    init.set_defaults(_model_run=_init)

    info = sub.add_parser("info", help="summarise a model folder",
                          description="print what a model folder holds: its aether.json settings, the transformer's "
                                      "shape, weight files and bytes, the scheduler and whether the empty-prompt "
                                      "embedding is there",
                          epilog=examples("aether model info aether-model", "aether model info aether-model --json"))
    info.add_argument("dir", help="model folder (transformer/, vae/, scheduler/, aether.json)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(_model_run=_info)

    summary = "compute empty_prompt_embeds.safetensors with T5"
    embed = sub.add_parser("embed-prompt", help=summary, description=summary,
                           epilog=examples("aether model embed-prompt aether-model --t5 CogVideoX-5b-I2V"))
    embed.add_argument("dir", help="model folder to write the embedding into")
    embed.add_argument("--t5", help="folder with tokenizer/ and text_encoder/ (default: DIR)")
    embed.add_argument("--overwrite", action="store_true", help="recompute an existing file")
    embed.set_defaults(_model_run=_embed_prompt)

    return lambda args: args._model_run(args)
