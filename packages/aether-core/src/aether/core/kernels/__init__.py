"""Compute kernels: a plain-torch reference for each, plus Triton versions used on GPU."""
