"""Multirun helpers: GPU per job, skip-completed, failure isolation, sweep-level naming."""
