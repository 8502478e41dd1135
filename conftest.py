"""Loaded at start-up when pytest runs from the repository root over several packages, before any
test module imports anything that imports Triton (aether-core's own conftest does the same alone)."""

from aether.core.kernels.interpreter import use_interpreter_without_cuda

use_interpreter_without_cuda()
