"""``aether app``: serve the three tasks in a local web page (Gradio, the ``aether-tasks[app]`` extra).

Listed on every CLI start, so only argparse is imported here; Gradio and torch load in ``run``. Nothing is
fetched from the internet at run time: Gradio's analytics and version check are off, the Hugging Face hub
is offline, the page uses the system's fonts and no share link is made.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
from pathlib import Path

from aether.core.cli_help import examples
from aether.core.cli_options import add_plugin_option
from aether.core.dtypes import DTYPES, dtype_name
from aether.core.errors import AetherError
from aether.tasks.commands import add_cameras_option

INSTALL = "pip install 'aether-tasks[app]'"
OFFLINE = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def require_gradio() -> None:
    """Raise, saying how to install it, unless Gradio is installed (not imported yet: it reads the settings
    of :data:`OFFLINE` and its cache folder when imported)."""
    if importlib.util.find_spec("gradio") is None:
        raise AetherError(f"aether app needs Gradio, an optional extra: {INSTALL} "
                          "(or `make setup`, which installs it)")


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt


def app_command(parser: argparse.ArgumentParser):
    parser.add_argument("--model", required=True, type=Path, help="model folder (transformer/, vae/, scheduler/)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every network)")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--dtype", type=dtype_name, choices=DTYPES, default="fp32",
                        help="model dtype (float32, bfloat16, float16 are accepted too)")
    add_plugin_option(parser, "--attention", "attention_backend", default="sdpa",
                      help="attention backend of the transformer (see `aether plugins --kind attention_backend`)")
    add_cameras_option(parser)
    parser.epilog = examples("aether app --model demo-out/train/run/model",
                             "aether app --model aether-model --device cuda --dtype bf16 --host 0.0.0.0 --port 8080")

    def run(args: argparse.Namespace) -> int:
        require_gradio()  # before the slow model load
        from aether.tasks.app.sessions import SessionFolders

        sessions = SessionFolders()
        os.environ.update(OFFLINE, GRADIO_TEMP_DIR=str(sessions.cache))  # uploads, removed with the sessions
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the server as Ctrl-C does, folders removed
        try:
            from aether.tasks.app.jobs import LoadedModel
            from aether.tasks.app.page import THEME, build_page
            from aether.tasks.commands import pipeline_for

            model = LoadedModel(pipeline_for(args), args.model)  # once, at start: the CLI's loader and checks
            # results are in the system's temporary folder, which Gradio copies to its cache and serves from
            build_page(model, sessions).launch(server_name=args.host, server_port=args.port, share=False,
                                               theme=THEME, ssr_mode=False)
        finally:
            sessions.close()
        return 0

    return run
