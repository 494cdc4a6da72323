"""What a run shows: per-file records and their media (:mod:`~denoise.report.records`), the HTML page
(:mod:`~denoise.report.html`), pictures and spectrograms (:mod:`~denoise.report.visuals`) and noise
estimates (:mod:`~denoise.report.estimate`)."""
