"""Files at the edges: discover inputs, name outputs, read and write images and audio, write atomically.

No tensor code lives here: images come out as float32 arrays (H, W, C) in [0, 1] plus what is needed to
write them back in the same format, mode and bit depth; audio is streamed in blocks with soundfile.

- :mod:`~denoise.io.planning`: which files the inputs name, where outputs go, what cannot be done;
- :mod:`~denoise.io.atomic`: temporary file, fsync, rename; stale temporary files;
- :mod:`~denoise.io.images`, :mod:`~denoise.io.audio`: decoding and encoding;
- :mod:`~denoise.io.records`: JSON and CSV for other programs, file names for people.
"""

from denoise.io.atomic import (FOREIGN_TEMP_AGE, MACHINE_ID, atomic_output, check_output_file, claim_path,
                               create_temp, fsync_file, release_claim, remove_stale_temps, try_claim)
from denoise.io.audio import (AudioInfo, Reader, Writer, audio_format_for, audio_info, audio_seconds, open_reader,
                              open_writer, output_audio_format, read_audio)
from denoise.io.base import (AUDIO_EXTS, DENOISED_TAG, IMAGE_EXTS, PICTURE_TAGS, UNREADABLE_EXTS, InputError,
                             REPORT_MARK, OutputExists, domain_of, is_own_picture, other_domain,
                             is_report_media, reason)
from denoise.io.images import (ImageData, image_channels, image_format_for, image_megapixels, max_image_pixels,
                               read_image, save_image, write_image, write_png16)
from denoise.io.planning import (Job, Plan, existing_output, list_files, plan, plan_jobs, refuse_unwritable,
                                 settle_existing, skip_own_outputs)
from denoise.io.records import csv_cell, json_safe, shown_name, to_json, write_csv

__all__ = [
    "AUDIO_EXTS", "DENOISED_TAG", "FOREIGN_TEMP_AGE", "IMAGE_EXTS", "MACHINE_ID", "UNREADABLE_EXTS", "AudioInfo",
    "ImageData", "InputError", "Job", "OutputExists", "Plan", "Reader", "Writer", "atomic_output",
    "audio_format_for", "audio_info", "audio_seconds", "create_temp", "domain_of", "existing_output", "fsync_file",
    "image_channels", "image_format_for", "image_megapixels", "is_report_media", "PICTURE_TAGS", "reason",
    "list_files", "max_image_pixels", "open_reader", "open_writer", "output_audio_format", "plan", "plan_jobs",
    "read_audio", "read_image", "refuse_unwritable", "remove_stale_temps", "save_image", "settle_existing",
    "skip_own_outputs", "write_image", "write_png16", "REPORT_MARK", "other_domain", "is_own_picture", "check_output_file", "claim_path", "release_claim", "try_claim", "csv_cell", "json_safe", "shown_name", "to_json", "write_csv",
]
