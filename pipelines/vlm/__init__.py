"""The image-text-to-text model (:mod:`models.vlm`) in a run: its loader, its worker and its two uses.

Modules: :mod:`pipelines.vlm.loader` (the one loader and its one-line errors),
:mod:`pipelines.vlm.baseline` (admission "every clip": the baseline that captions every clip, for
comparison) and :mod:`pipelines.vlm.enrichment` (admission "on caption": the ``vlm`` decoder,
which adds the model's text to the captions the selective path decided).
"""
