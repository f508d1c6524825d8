"""Runners: one experiment of one kind of task, on the shared run lifecycle.

lifecycle.py       run directory, config/metrics/summary files, logger, name and tags,
                   checkpoints, resume
classification.py  the fusion experiment (classification and binary tasks)
The retrieval runner lives with its data and model, in mmc/retrieval/run.py.
"""
