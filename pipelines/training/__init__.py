"""Training: the ``learned`` predictor on (video span, caption) pairs (:mod:`pipelines.training.train_predictor`;
the pairs and their cached tokens in :mod:`pipelines.training.pairs`)."""
