"""``aether demo``: the whole system end to end on a CPU, on data it renders itself.

Stages (each resumable, see :mod:`aether.train.demo.stages`): render synthetic clips, annotate the
training clips and score the cameras against ground truth, train a tiny AETHER within a time
budget, run the three tasks on held-out clips next to trivial baselines, write an HTML report
(:func:`aether.train.demo.run.run_demo`).
"""
