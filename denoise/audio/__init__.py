"""Audio: arrays and streams cut into chunks and cross-faded (:mod:`~denoise.audio.chunks`), the band above
the model's own rate (:mod:`~denoise.audio.highband`), frame-by-frame streaming of causal models
(:mod:`~denoise.audio.realtime`) and the microphone-to-speakers layer (:mod:`~denoise.audio.live`)."""
