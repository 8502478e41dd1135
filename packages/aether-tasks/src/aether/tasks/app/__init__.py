"""``aether app``: reconstruction, prediction and planning in a local Gradio page (the ``app`` extra).

``command`` (the CLI, imported on every start: light), ``page`` (the layout), ``jobs`` (running the task
commands on the loaded model), ``sessions`` (per-session temporary folders).
"""
