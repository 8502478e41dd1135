"""Run Triton kernels through its interpreter without CUDA; see ``use_interpreter_without_cuda``."""

from aether.core.kernels.interpreter import use_interpreter_without_cuda

use_interpreter_without_cuda()
