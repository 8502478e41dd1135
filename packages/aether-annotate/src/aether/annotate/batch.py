"""Annotate a folder of clips resumably, also with several runs on one output folder at once: each clip's
outputs (``slice_000.safetensors``, ... and ``report.json``) are written whole into a temporary folder and
renamed into place as ``OUT/<clip name>/``, under that clip's lock. A rerun skips a clip only when its
report is ``ok``, its slices exist, and it was made with the same options from the same input; a clip that
cannot be read or annotated gets a report with ``status: failed`` instead of stopping the run."""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterator


from aether.annotate.locks import clip_lock, using_folder
from aether.annotate.pipeline import AnnotateConfig, annotate_clip, build_stages
from aether.annotate.shards import Shard
from aether.annotate.stages.base import AnnotateError
from aether.core.atomic import atomic_dir, write_json
from aether.core.clip import iter_clip_paths, load_clip, save_clip
from aether.core.errors import AetherError, ClipError
from aether.core.progress import progress_bar

REPORT = "report.json"
SUMMARY = "summary.json"


def clip_folder(out: str | os.PathLike, clip_path: Path) -> Path:
    """Where the outputs of the clip file or frame folder ``clip_path`` go under ``out``."""
    return Path(out) / clip_path.name.removesuffix(".safetensors")


# Output folder names that would be the run's own files: its locks and the temporaries a later run sweeps
# away (leading dot), its summaries and evaluation.json.
_RESERVED = re.compile(r"\..*|summary(\.shard-\d+-of-\d+)?\.json|evaluation\.json")


def reserved_name(clip_path: Path) -> str | None:
    """Why ``clip_path``'s output folder cannot be written (its name is one of the run's own files), or None."""
    name = clip_folder("", clip_path).name
    if _RESERVED.fullmatch(name):
        return (f"{clip_path}: its output folder name {name!r} is reserved for the run's own files (locks, "
                "temporaries, summaries); rename the clip (without a leading dot)")
    return None


def slice_name(index: int) -> str:
    """The file name of slice ``index`` in a clip's folder."""
    return f"slice_{index:03d}.safetensors"


def input_stamp(clip_path: Path) -> str:
    """Names, sizes and modification times of the clip's files, hashed: a clip changed since its report
    was made is annotated again (hashing the content would read every clip on every rerun)."""
    files = sorted(p for p in clip_path.rglob("*") if p.is_file()) if clip_path.is_dir() else [clip_path]
    lines = [f"{p.relative_to(clip_path.parent)} {s.st_size} {s.st_mtime_ns}" for p in files for s in [p.stat()]]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def current_report(folder: Path, config: AnnotateConfig, stamp: str) -> dict | None:
    """The report in ``folder`` if it was made with ``config`` from the input stamped ``stamp``; else None."""
    try:
        report = json.loads((folder / REPORT).read_text())
    except (OSError, ValueError):  # none yet, or not JSON
        return None
    if not isinstance(report, dict) or report.get("input") != stamp \
            or report.get("config") != config.model_dump(mode="json"):
        return None
    return report


def finished_report(folder: Path, config: AnnotateConfig, stamp: str) -> dict | None:
    """The report in ``folder`` if it is ``ok``, made with ``config`` from the input stamped ``stamp``, and
    every slice it names exists; else None (the clip is to be annotated again)."""
    report = current_report(folder, config, stamp)
    if report is None or report.get("status") != "ok":
        return None
    slices = report.get("slices")
    if not isinstance(slices, list) or not all((folder / slice_name(i)).is_file() for i in range(len(slices))):
        return None
    return report


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())  # library messages (OpenCV's) span lines
    return text if isinstance(exc, AetherError) else f"{type(exc).__name__}: {text}"


def _annotate_into(clip_path: Path, folder: Path, config: AnnotateConfig, stamp: str) -> dict:
    """Annotate ``clip_path`` and write its slices and report whole into ``folder``; returns the report."""
    try:
        pieces, report = annotate_clip(load_clip(clip_path), config)
    except Exception as exc:  # a bad clip, or a bug or library failure on one clip, must not stop the folder run
        pieces, report = [], {"status": "failed", "error": _one_line(exc)}
    report = {"clip": str(clip_path), "input": stamp, **report, "config": config.model_dump(mode="json")}
    with atomic_dir(folder) as tmp:
        for i, piece in enumerate(pieces):
            save_clip(piece, tmp / slice_name(i))
        write_json(tmp / REPORT, report)
    return report


def _annotate_locked(clip_path: Path, out: Path, config: AnnotateConfig, stamp: str,
                     blocking: bool) -> tuple[dict, bool] | None:
    """Under the clip's lock, its finished report (and True: skipped) or a new annotation's (and False);
    None when ``blocking`` is false and another run holds the lock."""
    folder = clip_folder(out, clip_path)
    reserved = reserved_name(clip_path)
    if reserved:  # annotated there, it would replace a lock or be swept away as a temporary by the next run
        return {"clip": str(clip_path), "input": stamp, "status": "failed", "error": reserved}, False
    with clip_lock(out, folder.name, blocking) as held:
        if not held:
            return None
        report = finished_report(folder, config, stamp)
        return (report, True) if report is not None else (_annotate_into(clip_path, folder, config, stamp), False)


def _clip_paths(path: Path) -> list[Path]:
    """The clips to annotate; raises when there are none (a typo should not look like a finished run)."""
    if not path.exists():
        raise ClipError(f"{path}: no such file or folder")
    clips = iter_clip_paths(path)
    if not clips:
        raise AnnotateError(f"{path}: no *.safetensors clips in the folder (a frame folder needs rgb/)")
    return clips


def _prepare(path: str | os.PathLike, out: str | os.PathLike, config: AnnotateConfig | None,
             shard: Shard | None = None) -> tuple[Path, AnnotateConfig, dict[Path, str]]:
    """Checks done before any work (raising for a missing ``path``, a folder without clips, an ``out`` that is
    not a folder, unknown stages or bad options): ``out``, the config and ``{clip path: input stamp}`` of the
    clips of ``shard``."""
    out, config = Path(out), config or AnnotateConfig()
    clip_paths = _clip_paths(Path(path))
    build_stages(config)
    if out.exists() and not out.is_dir():
        raise AnnotateError(f"{out}: not a folder; choose a folder for the annotations")
    if shard is not None:
        clip_paths = [p for p in clip_paths if shard.holds(p.name)]
    return out, config, {clip_path: input_stamp(clip_path) for clip_path in clip_paths}


def summary_name(shard: Shard | None) -> str:
    """``summary.json``, or ``summary.shard-K-of-N.json`` for the run of one shard."""
    return SUMMARY if shard is None else f"summary.shard-{shard.index}-of-{shard.count}.json"


def _locked_task(clip_path: Path, out: Path, config: AnnotateConfig, stamp: str,
                 blocking: bool) -> tuple[dict, bool] | None:
    """:func:`_annotate_locked` holding the folder's run lock too, as a worker process: a worker orphaned by a
    killed run keeps a later run from sweeping away the temporary it is writing."""
    with using_folder(out):
        return _annotate_locked(clip_path, out, config, stamp, blocking)


# Read by NumPy's and SciPy's BLAS (OpenBLAS, MKL) as a worker starts, so set where the workers inherit it.
WORKER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def one_thread_per_worker() -> Iterator[None]:
    """Processes spawned inside this block size their BLAS thread pools to one thread (unless the variables
    are set already): each worker has about one core, and idle OpenBLAS threads spin on the cores the other
    workers need."""
    unset = [name for name in WORKER_THREAD_VARIABLES if name not in os.environ]
    os.environ.update(dict.fromkeys(unset, "1"))
    try:
        yield
    finally:
        for name in unset:
            os.environ.pop(name, None)


def _worker_init() -> None:
    # Each worker already has a core of its own; OpenCV's thread pool would oversubscribe them.
    import cv2

    cv2.setNumThreads(1)


class _Workers:
    """The worker processes of a run. A worker that dies (killed, out of memory) breaks the whole pool and
    every clip still in it; after :meth:`close`, :meth:`get` starts a fresh pool for them."""

    def __init__(self, count: int) -> None:
        self.count, self.pool = count, None

    def get(self) -> ProcessPoolExecutor:
        if self.pool is None:
            # spawn, not fork: a fork copies OpenCV's thread pool locks as they were, and its children can hang
            self.pool = ProcessPoolExecutor(self.count, multiprocessing.get_context("spawn"),
                                            initializer=_worker_init)
        return self.pool

    def close(self, broken: bool = False) -> None:
        if self.pool is not None:
            if broken:
                # CPython 3.11's pool, broken, can wait forever on a worker its SIGTERM missed (one that was
                # starting up): kill them all first (a private attribute; the shutdown below is the fallback)
                for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                    process.kill()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


# What a clip's result is when its worker pool broke before the clip was done, or before it was handed over
_DIED, _UNSENT = "died", "unsent"
# How often a clip may be in a broken pool before it is reported failed (the first may be another clip's fault)
_POOL_TRIES = 2


def _pass(clip_paths: list[Path], out: Path, config: AnnotateConfig, stamps: dict[Path, str], blocking: bool,
          workers: _Workers | None) -> Iterator[tuple[Path, tuple[dict, bool] | str | None]]:
    """Annotate ``clip_paths`` (in ``workers`` when given), yielding each clip's result as it ends
    (:data:`_DIED` where a worker died first, :data:`_UNSENT` where the pool broke before it got the clip)."""
    if workers is None:
        for clip_path in clip_paths:
            yield clip_path, _annotate_locked(clip_path, out, config, stamps[clip_path], blocking)
        return
    if not clip_paths:
        return
    pool = workers.get()
    futures = {}
    for i, clip_path in enumerate(clip_paths):
        try:
            futures[pool.submit(_locked_task, clip_path, out, config, stamps[clip_path], blocking)] = clip_path
        except BrokenProcessPool:  # a worker died meanwhile
            yield from ((p, _UNSENT) for p in clip_paths[i:])
            break
    for future in as_completed(futures):
        try:
            result = future.result()
        except BrokenProcessPool:
            result = _DIED
        yield futures[future], result


def _died(clip_path: Path, stamp: str, tries: int) -> dict:
    """The report of a clip whose worker process died ``tries`` times before it was done."""
    return {"clip": str(clip_path), "input": stamp, "status": "failed",
            "error": f"{clip_path}: a worker process died (killed, or out of memory) before the clip was done, "
                     f"{tries} times; finished clips are kept; rerun to retry it (with fewer --workers if memory "
                     "is short)"}


def annotate_dir(path: str | os.PathLike, out: str | os.PathLike, config: AnnotateConfig | None = None,
                 progress: bool = True, workers: int = 1, shard: Shard | None = None) -> dict:
    """Annotate the clip ``path`` or every clip of the folder ``path`` (of ``shard`` only, when given) into
    ``out``, in ``workers`` processes. Returns ``{clip name: {"status", "slices", "frames_kept", "error" /
    "reason", "skipped"}}``, also written to ``out/summary.json`` (``out/summary.shard-K-of-N.json`` for a
    shard; :func:`summarize_dir` merges them). Raises before any work for a missing ``path``, a folder
    without clips, an ``out`` that is not a folder, and unknown stages or bad stage options."""
    if workers < 1:
        raise AnnotateError(f"workers must be at least 1, got {workers}")
    out, config, stamps = _prepare(path, out, config, shard)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[Path, tuple[dict, bool]] = {}
    deaths: dict[Path, int] = {}
    with using_folder(out), contextlib.ExitStack() as stack:
        pool = None
        if workers > 1 and len(stamps) > 1:
            stack.enter_context(one_thread_per_worker())  # workers spawn at the pool's first tasks
            pool = _Workers(min(workers, len(stamps)))
            stack.callback(pool.close)
        bar = stack.enter_context(progress_bar(total=len(stamps), desc="annotate", unit="clip", disable=not progress))
        # A clip that another run is annotating is put off to the end, then waited for (and found done).
        for blocking in (False, True):
            broke = True
            while broke:  # again in a fresh pool for the clips a dead worker took down, until each is done or failed
                broke = False
                for clip_path, result in _pass([p for p in stamps if p not in results], out, config, stamps,
                                               blocking, pool):
                    if result is _UNSENT:
                        broke = True
                        continue
                    if result is _DIED:
                        broke = True
                        deaths[clip_path] = deaths.get(clip_path, 0) + 1
                        if deaths[clip_path] < _POOL_TRIES:
                            continue
                        result = _died(clip_path, stamps[clip_path], deaths[clip_path]), False
                    if result is not None:
                        results[clip_path] = result
                        bar.update()
                if broke:
                    pool.close(broken=True)
        summary = {clip_path.name: _entry(*results[clip_path]) for clip_path in stamps}
        write_json(out / summary_name(shard), summary)
    return summary


def summarize_dir(path: str | os.PathLike, out: str | os.PathLike, config: AnnotateConfig | None = None) -> dict:
    """Merge what the runs (of every shard) wrote into ``out`` for the clips of ``path``, annotating nothing:
    the summary of :func:`annotate_dir` from each clip's report, ``status: missing`` for a clip with no report
    made with ``config`` from its current input. Written to ``out/summary.json``."""
    out, config, stamps = _prepare(path, out, config)
    summary = {}
    for clip_path, stamp in stamps.items():
        reserved = reserved_name(clip_path)
        if reserved:
            summary[clip_path.name] = _entry({"status": "failed", "error": reserved}, False)
            continue
        report = current_report(clip_folder(out, clip_path), config, stamp)
        summary[clip_path.name] = _entry(report, True) if report is not None else {
            "status": "missing", "slices": 0, "frames_kept": 0, "skipped": False,
            "reason": "no report made with these options from this input (not annotated yet, or by no shard)"}
    if out.is_dir():
        with using_folder(out):
            write_json(out / SUMMARY, summary)
    return summary


def _entry(report: dict, skipped: bool) -> dict:
    """A clip's line in the summary."""
    entry = {"status": report.get("status"), "slices": len(report.get("slices", [])),
             "frames_kept": report.get("frames_kept", 0), "skipped": skipped,
             **{k: report[k] for k in ("error", "reason") if k in report}}
    unobservable = sum(s.get("focal") == "unobservable" for s in report.get("slices", []))
    return {**entry, "focal_unobservable": unobservable} if unobservable else entry
