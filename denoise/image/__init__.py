"""Pictures: numpy arrays of any size through the tensor layer (:mod:`denoise.inference`) in aligned,
overlapping, blended tiles (:mod:`~denoise.image.tiling`, :mod:`~denoise.image.arrays`), and the tiles of
many pictures sharing forward passes (:mod:`~denoise.image.batching`)."""
