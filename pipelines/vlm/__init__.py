"""The image-text-to-text model (:mod:`models.vlm`) in a run: its loader, its worker, its two admission policies and its two uses.

Modules: :mod:`pipelines.vlm.loader` (the one loader and its one-line errors),
:mod:`pipelines.vlm.worker` (:class:`~pipelines.vlm.worker.VLMWorker`, the one thread that runs
the model: timings, niceness, end), :mod:`pipelines.vlm.admission` (what waits for it: "every
clip", :class:`~pipelines.vlm.admission.EveryClip`, and "on caption",
:class:`~pipelines.vlm.admission.OnCaption`), :mod:`pipelines.vlm.baseline` (the baseline that
captions every clip, for comparison) and :mod:`pipelines.vlm.enrichment` (the ``vlm`` decoder,
which adds the model's text to the captions the selective path decided); the bench measures both
admissions through the same worker (:mod:`pipelines.bench.baseline`, :mod:`pipelines.bench.decoder_cost`).
"""
