"""Wiring: clips, drift, the selective pipeline, the runner, the bench, training and the command line (``pipelines/cli/``)."""
