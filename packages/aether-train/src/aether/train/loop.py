"""The training loop: ``train(config) -> TrainResult``, on one process or under ``torchrun``.

AdamW + OneCycle, gradient accumulation, bf16 autocast on GPU, optional activation
checkpointing and EMA; per-step records (loss, per-task and per-term losses, learning rate,
samples/s, tokens/s) go to ``<out>/log.jsonl`` and a progress bar; checkpoints every
``checkpoint_every`` steps, when ``max_minutes`` runs out, and at the end, after which the model
folder ``<out>/model`` is exported; ``<out>/data.json`` says which window shapes the clips give and
how many clips each skipped. Resuming restores the exact state, so the resumed run's
losses equal the uninterrupted run's.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from aether.core.atomic import sweep_temporaries, write_json, write_text
from aether.core.progress import print_above_bars, progress_bar
from aether.tasks.sampling import make_scheduler
from aether.train import checkpoint as ckpt
from aether.train.conditions import TaskDraw, TaskSampler
from aether.train.config import ConfigError, TrainConfig, config_changes, dump_config
from aether.train.data import ClipWindows, collate, worker_init
from aether.train.distributed import (
    Dist,
    close,
    from_rank0,
    init_distributed,
    sum_over_ranks,
    sync_gradients,
    wrap_model,
)
from aether.train.ema import EMA
from aether.train.export import export_model
from aether.train.model import build_backbone, build_video_codec, scheduler_config, vae_dir
from aether.train.objective import Objective, model_inputs
from aether.train.runlog import RunLog
from aether.train.sampler import StepBatches
from torch.utils.data import DataLoader

CONFIG_FILE, LOG, MODEL_DIR, DATA_SUMMARY = "config.yaml", "log.jsonl", "model", "data.json"
EVAL_STEP = 2**40  # the key of the fixed evaluation examples: a step training never reaches
TERMS = ("latent", "ms_ssim", "depth", "pointmap")
# settings that say what the weights are, which no resume may change (the checkpoint would not fit, or mean
# something else)
ARCHITECTURE = ("model.init", "model.tiny", "model.video_codec", "model.vae_dir", "model.action_encoder")


@dataclass
class TrainResult:
    """What a call of :func:`train` did: ``history`` holds this call's per-step records
    (``step``, ``loss``, ``tasks``, ``terms``, ``lr``, ``samples_per_s``, ``tokens_per_s``),
    ``evals`` the per-task evaluation losses by step."""

    run_dir: Path
    checkpoint: Path | None
    model_dir: Path | None
    steps_done: int
    finished: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    evals: dict[int, dict[str, float]] = field(default_factory=dict)


class _Trainer:
    """The state of one run on this process."""

    def __init__(self, config: TrainConfig, where: Dist) -> None:
        self.config, self.where = config, where
        self.global_batch = config.micro_batch * config.grad_accum * where.world
        backbone = build_backbone(config).to(where.device)
        backbone.set_attention_backend(config.model.attention)
        if config.model.activation_checkpointing:
            backbone.transformer.enable_gradient_checkpointing()
        self.backbone = backbone
        self.scheduler_config = scheduler_config(config)
        self.scheduler = make_scheduler(self.scheduler_config)
        self.codec = build_video_codec(config, where.device)
        self.tasks = TaskSampler(config.tasks)
        self.dataset = _dataset(config, self.global_batch)
        self.objective = Objective(config.loss, self.scheduler, self.codec, self.dataset.encoder)
        self.model = wrap_model(backbone, config.distributed, where)
        opt = config.optim
        self.optimizer = torch.optim.AdamW(backbone.parameters(), lr=opt.lr, betas=opt.betas, eps=opt.eps,
                                           weight_decay=opt.weight_decay)
        self.lr_schedule = torch.optim.lr_scheduler.OneCycleLR(
            # at least 1.5 warm-up steps: OneCycleLR divides by pct_start * total_steps - 1
            self.optimizer, max_lr=opt.lr, total_steps=config.steps,
            pct_start=min(max(opt.warmup, 1.5 / config.steps), 0.99),
            div_factor=opt.div_factor, final_div_factor=opt.final_div_factor, cycle_momentum=False)
        self.ema = EMA(backbone, config.ema_decay) if config.ema_decay else None
        self.autocast = torch.autocast(where.device.type, dtype=torch.bfloat16,
                                       enabled=config.bf16 and where.device.type == "cuda")

    # ------------------------------------------------------------------ pieces
    def meta(self) -> dict[str, Any]:
        folder = vae_dir(self.config)
        return {"transformer_config": dict(self.backbone.transformer.config),
                "scheduler_config": self.scheduler_config, "video_codec": self.config.model.video_codec,
                "action_encoder": self.config.model.action_encoder,
                "vae_dir": str(folder) if folder else None, "config": self.config.model_dump(mode="json")}

    def loader(self, start: int) -> DataLoader:
        cfg = self.config
        batches = StepBatches(start, cfg.steps, cfg.micro_batch, cfg.grad_accum, self.where.rank, self.where.world)
        return DataLoader(self.dataset, batch_sampler=batches, collate_fn=collate, num_workers=cfg.data.num_workers,
                          worker_init_fn=worker_init, pin_memory=self.where.device.type == "cuda")

    def losses(self, batch: dict, draws: list[TaskDraw] | None = None) -> tuple[dict[str, torch.Tensor], list[str]]:
        inputs = model_inputs(batch, self.codec, self.tasks, self.config.seed,
                              self.scheduler.config.num_train_timesteps, self.where.device, draws,
                              self.config.data.posterior)
        with self.autocast:
            terms = self.objective(self.model, inputs, batch)
        return terms, [d.task for d in inputs.draws]

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Per-task loss on fixed examples, noise and timesteps (action kept): comparable across steps."""
        count = self.config.eval_examples
        batch = collate([self.dataset[(EVAL_STEP, slot)] for slot in range(count)])
        return {task: float(self.losses(batch, [TaskDraw(task, True)] * count)[0]["total"].mean())
                for task in self.tasks.names}

    def step(self, micro_batches: list[dict]) -> dict[str, Any]:
        """One optimizer step over ``grad_accum`` micro-batches; returns the step's record."""
        tasks, names = self.tasks.names, ("total",) + TERMS
        sums = torch.zeros(len(tasks) * 2 + len(names))  # per-task sum, per-task count, per-term sum
        for i, batch in enumerate(micro_batches):
            last = i == len(micro_batches) - 1
            with sync_gradients(self.model, last):
                terms, batch_tasks = self.losses(batch)
                (terms["total"].mean() / len(micro_batches)).backward()
            totals = terms["total"].detach().float().cpu()
            for j, task in enumerate(batch_tasks):
                k = tasks.index(task)
                sums[k] += float(totals[j])
                sums[len(tasks) + k] += 1
            for k, name in enumerate(names):
                if name in terms:
                    sums[2 * len(tasks) + k] += float(terms[name].detach().sum())
        if self.config.optim.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.backbone.parameters(), self.config.optim.max_grad_norm)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.lr_schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.backbone)
        sums = sum_over_ranks(sums, self.where)
        n = self.global_batch
        per_task = {t: float(sums[k] / sums[len(tasks) + k]) for k, t in enumerate(tasks) if sums[len(tasks) + k]}
        terms = {name: float(sums[2 * len(tasks) + k] / n) for k, name in enumerate(names[1:], 1)
                 if name == "latent" or self.config.loss.stage == 2}
        return {"loss": float(sums[2 * len(tasks)] / n), "tasks": per_task, "terms": terms, "lr": lr}

    def save(self, step: int) -> Path:
        return ckpt.save_checkpoint(self.config.out, step, self.backbone, self.optimizer, self.lr_schedule,
                                    self.ema, self.meta(), self.where, self.config.keep_last)


def _dataset(config: TrainConfig, global_batch: int) -> ClipWindows:
    if config.data.cache is not None:
        from aether.train.cache import CachedWindows

        return CachedWindows(config, global_batch)
    return ClipWindows(config, global_batch)


def _summary(records: list[dict[str, Any]], step: int, steps: int) -> str:
    """One console line: mean loss, per-task losses and throughput over ``records``."""
    tasks: dict[str, list[float]] = {}
    for record in records:
        for task, loss in record["tasks"].items():
            tasks.setdefault(task, []).append(loss)
    mean = lambda values: sum(values) / len(values)
    per_task = " ".join(f"{task} {mean(values):.4f}" for task, values in sorted(tasks.items()))
    return (f"step {step}/{steps}  loss {mean([r['loss'] for r in records]):.4f}  {per_task}  "
            f"{mean([r['samples_per_s'] for r in records]):.1f} samples/s  "
            f"{mean([r['tokens_per_s'] for r in records]):.0f} tokens/s")


def _skipped(summary: dict[str, Any]) -> str:
    """The window shapes some clips cannot give, as ``17@24: 3 slower, 1 shorter; ...`` ('' if none)."""
    return "; ".join(f"{shape}: " + ", ".join(f"{n} {reason}" for reason, n in counts.items() if reason != "clips")
                     for shape, counts in summary["windows"].items() if len(counts) > 1)


def _grouped(loader, size: int):
    """Consecutive groups of ``size`` micro-batches (one optimizer step each)."""
    group = []
    for batch in loader:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []


def train(config: TrainConfig, resume: bool = False, stop_after: int | None = None,
          override_config: bool = False) -> TrainResult:
    """Run (or with ``resume`` continue from the newest readable checkpoint) the training ``config``
    describes. A resume refuses a config that differs from the checkpoint's in what it trains, unless
    ``override_config``: then the new config's optimizer settings and schedule take over at the
    checkpoint's step. ``stop_after`` ends this call after that many steps with a checkpoint, as an
    interrupted run would (``max_minutes`` does the same by wall time). Under ``torchrun`` every
    process calls this; rank 0 writes the log, checkpoints and the export."""
    where = init_distributed()
    try:
        return _train(config, where, resume, stop_after, override_config)
    finally:
        close(where)


def _check_folder(run_dir: Path, resume: bool) -> None:
    """Refuse a fresh run in a folder holding an earlier run, and an output folder that cannot be written,
    before any work starts."""
    earlier = [name for name in (ckpt.CHECKPOINTS, LOG, MODEL_DIR) if (run_dir / name).exists()]
    if earlier and not resume:
        raise ConfigError(f"out: {run_dir} holds an earlier run ({', '.join(earlier)}); pass --resume to continue "
                          "it, or choose another out folder")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir):
            pass
    except OSError as exc:
        raise ConfigError(f"out: cannot write to {run_dir} ({exc.strerror}); choose a writable folder") from None


def _check_resume(found: ckpt.Checkpoint, config: TrainConfig, override: bool) -> None:
    """Refuse to continue a checkpoint under a config that trains something else, unless ``override``."""
    changes = config_changes(found.meta.get("config", {}), config.model_dump(mode="json"))
    fixed = [change for change in changes if change.split(":")[0].startswith(ARCHITECTURE)]
    if fixed and override:
        raise ConfigError(f"--override-config cannot change what the weights are ({'; '.join(fixed)}); resume with "
                          f"the checkpoint's {', '.join(ARCHITECTURE)}, or choose another out folder")
    if changes and not override:
        raise ConfigError(f"{config.out} was trained with another config ({'; '.join(changes)}); resume with its "
                          f"own config ({config.out / CONFIG_FILE}), pass --override-config to continue under the "
                          "new one, or choose another out folder")
    if found.next_step > config.steps:
        raise ConfigError(f"steps: {config.steps} is below the checkpoint's step {found.next_step}; "
                          "give at least that many steps")


def _train(config: TrainConfig, where: Dist, resume: bool, stop_after: int | None, override: bool) -> TrainResult:
    torch.manual_seed(config.seed)
    run_dir = Path(config.out)
    _check_folder(run_dir, resume)
    found = ckpt.resume_point(run_dir, where) if resume else None
    if found is not None:
        _check_resume(found, config, override)
    if where.main:  # what a killed earlier run was writing
        sweep_temporaries(run_dir)
        sweep_temporaries(run_dir / ckpt.CHECKPOINTS)
    trainer = _Trainer(config, where)
    start, resumed = 0, None
    if found is not None:
        start, resumed = found.restore(trainer.backbone, trainer.optimizer, trainer.lr_schedule, trainer.ema,
                                       new_schedule=override), found.path
        del found  # the tensors read, as large as the model and optimizer: not kept through training
    log = None
    if where.main:
        write_text(run_dir / CONFIG_FILE, dump_config(config))
        summary = trainer.dataset.summary()
        write_json(run_dir / DATA_SUMMARY, summary)
        skipped = _skipped(summary)
        if skipped and config.progress:
            print_above_bars(f"data: skipped {skipped}, which would repeat frames (see {run_dir / DATA_SUMMARY})")
        log = RunLog(run_dir / LOG, start if resumed is not None else None)
    result = TrainResult(run_dir=run_dir, checkpoint=resumed, model_dir=None, steps_done=start, finished=False)

    def evaluate(step: int) -> None:
        if config.eval_examples:
            result.evals[step] = trainer.evaluate()
            if log:
                log.write({"step": step, "eval": result.evals[step]})

    if start == 0:
        evaluate(0)
    tokens = config.micro_batch * config.grad_accum * where.world * config.tokens_per_frame
    began = time.perf_counter()
    bar = progress_bar(total=config.steps, initial=start, desc="train", unit="step",
                       disable=not (config.progress and where.main))
    step, stopped = start, False
    tick = time.perf_counter()
    for group in _grouped(trainer.loader(start), config.grad_accum):
        record = {"step": step, **trainer.step(group)}
        now = time.perf_counter()
        latent_frames = group[0]["action"].shape[1]
        record["samples_per_s"] = trainer.global_batch / (now - tick)
        record["tokens_per_s"] = tokens * latent_frames / (now - tick)
        tick = now
        result.history.append(record)
        if log:
            log.write(record)
        bar.update(1)
        # refresh=False: the bar redraws on its own schedule, not once per step (a line per step in a log)
        bar.set_postfix(loss=f"{record['loss']:.4f}", sps=f"{record['samples_per_s']:.1f}", refresh=False)
        step += 1
        if step % config.log_every == 0 and not bar.disable:
            bar.write(_summary(result.history[-config.log_every:], step, config.steps))
        out_of_time = config.max_minutes is not None and now - began > 60 * config.max_minutes
        stopped = from_rank0(out_of_time or (stop_after is not None and step - start >= stop_after), where)
        if stopped or step == config.steps:
            break
        if step % config.checkpoint_every == 0:
            result.checkpoint = trainer.save(step)
    bar.close()
    result.steps_done, result.finished = step, step == config.steps
    if result.checkpoint is None or ckpt.checkpoint_dir(run_dir, step) != result.checkpoint:
        result.checkpoint = trainer.save(step)
    if result.finished:
        evaluate(step)
    if config.export and (result.finished or stop_after is None) and where.main:
        result.model_dir = export_model(result.checkpoint, run_dir / MODEL_DIR)
    return result
