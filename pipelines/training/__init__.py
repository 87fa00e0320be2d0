"""Training: the ``learned`` predictor on (video span, caption) pairs (:mod:`pipelines.training.train_predictor`)."""
