"""Per-session temporary folders: the jobs of one browser session run in one folder, removed when the
session ends (its tab closes) and, with every other and Gradio's own upload cache, when the server stops."""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
from pathlib import Path

_SAFE = re.compile(r"[A-Za-z0-9_-]+")


class SessionFolders:
    """``root/sessions/<session>/job-<n>/`` folders and Gradio's cache ``root/gradio`` (uploads, and the copies
    of results it serves; kept apart, or Gradio would serve a job folder's files without copying them) under a
    fresh temporary ``root`` in ``parent`` (default: the system's temporary folder)."""

    def __init__(self, parent: str | Path | None = None) -> None:
        self._root = tempfile.TemporaryDirectory(prefix="aether-app-", dir=parent)
        self.root = Path(self._root.name)
        self.cache = self.root / "gradio"
        self._jobs = itertools.count()

    def _session(self, session: str) -> Path:
        if not _SAFE.fullmatch(session or ""):
            raise ValueError(f"session id {session!r} must be letters, digits, '-' or '_'")
        return self.root / "sessions" / session

    def new_job(self, session: str) -> Path:
        """An empty folder for one job of ``session``; the session's earlier jobs are removed (the page has
        been sent copies of their files)."""
        folder = self._session(session)
        if folder.exists():
            for old in folder.iterdir():
                shutil.rmtree(old, ignore_errors=True)
        job = folder / f"job-{next(self._jobs)}"
        job.mkdir(parents=True)
        return job

    def end(self, session: str) -> None:
        """Remove everything of ``session``."""
        shutil.rmtree(self._session(session), ignore_errors=True)

    def close(self) -> None:
        """Remove every session's folder and the root."""
        self._root.cleanup()
