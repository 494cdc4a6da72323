"""Training: corruptions of clean data (:mod:`~denoise.training.noise`), step-seeded datasets
(:mod:`~denoise.training.data`), losses (:mod:`~denoise.training.losses`), run directories
(:mod:`~denoise.training.runs`), validation (:mod:`~denoise.training.validation`), the loop
(:mod:`~denoise.training.loop`), torchrun helpers (:mod:`~denoise.training.distributed`) and the
benchmark evaluations of ``denoise eval`` (:mod:`~denoise.training.evaluation`)."""
