"""Many files in one run: the job list run with background decoding and writing, one result per file
(:mod:`~denoise.runner.files`, :mod:`~denoise.runner.results`); the chunks of several audio files sharing
forward passes (:mod:`~denoise.runner.audio_batching`); torchrun shares of a file list
(:mod:`~denoise.runner.sharding`); standard input and output (:mod:`~denoise.runner.pipes`)."""
