"""Typed configuration: plain dataclasses that round-trip through JSON.

Every config is built from explicit values (CLI flags, a checkpoint's metadata, a test); nothing here reads
global state. ``from_dict`` raises on unknown keys so a typo in a config file or a checkpoint written by a
newer version fails loudly instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Type, TypeVar

T = TypeVar("T")

DOMAINS = ("image", "audio")
# The default model per (domain, channels), best first: the first one shipped is used (checkpoint.default_name;
# the command line's help names the first). Colour pictures are photos more often than not, so the
# camera-noise model comes before the Gaussian-noise one.
DEFAULT_NAMES = {("image", 1): ("image-gray",), ("image", 3): ("image-photo", "image-color"),
                 ("audio", 1): ("audio-speech-fullband", "audio-speech")}


# Keys that earlier versions wrote and that mean nothing now: read without complaint, so that their runs
# resume and their checkpoints load. (p_gaussian_only was never read: the Gaussian share is what is left.)
RETIRED_KEYS: dict[str, frozenset[str]] = {"CorruptionConfig": frozenset({"p_gaussian_only"})}


class ConfigError(ValueError):
    """A configuration value or key is invalid."""


def _from_dict(cls: Type[T], data: dict[str, Any]) -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    data = {k: v for k, v in data.items() if k not in RETIRED_KEYS.get(cls.__name__, ())}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown key(s) {', '.join(unknown)}")
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        sub = _NESTED.get((cls.__name__, f.name))
        if sub is not None and value is not None:
            value = sub.from_dict(value)
        elif isinstance(value, list) and isinstance(f.default, tuple):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


class _Dictable:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: Type[T], data: dict[str, Any]) -> T:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class STFTConfig(_Dictable):
    """Spectrogram settings of an audio model; fixed at training time and stored in the checkpoint.

    A periodic Hann window with ``hop_length <= n_fft / 2`` satisfies the overlap-add constraint, so
    ``istft(stft(x)) == x`` up to float error and nothing shifts in time.
    """

    n_fft: int = 512
    hop_length: int = 128
    win_length: int = 512

    def __post_init__(self) -> None:
        if self.win_length > self.n_fft or self.hop_length > self.win_length // 2:
            raise ConfigError("STFT needs win_length <= n_fft and hop_length <= win_length / 2")

    @classmethod
    def for_rate(cls, sample_rate: int) -> "STFTConfig":
        """The default's 32 ms window and 8 ms hop at ``sample_rate`` (a multiple of 8 kHz, so the bins are
        31.25 Hz apart at every rate and a 48 kHz model's first 257 bins are a 16 kHz model's bins)."""
        if sample_rate <= 0 or sample_rate % 8000:
            raise ConfigError(f"sample_rate must be a multiple of 8000 Hz, got {sample_rate}")
        n = 512 * sample_rate // 16000
        return cls(n_fft=n, hop_length=n // 4, win_length=n)


@dataclass(frozen=True)
class ModelConfig(_Dictable):
    """What is needed to rebuild a model: the architecture by registry name and its constructor arguments.

    ``output`` says how the network's raw output becomes the estimate: ``residual`` (images: the network
    predicts the noise, which is subtracted), ``direct`` (the network outputs the clean signal) or ``mask``
    (audio: a [0, 1] gain per time-frequency bin applied to the noisy spectrogram). ``low_cut_hz`` (audio):
    the gains fall to zero below this frequency (linearly from it to half of it), a rumble filter below the
    voice that needs no weights; 0: none.
    """

    arch: str = "dae"
    domain: str = "image"
    channels: int = 1
    args: dict[str, Any] = field(default_factory=dict)
    output: str = "residual"
    sample_rate: Optional[int] = None
    stft: Optional[STFTConfig] = None
    low_cut_hz: float = 0.0

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ConfigError(f"domain must be one of {DOMAINS}, got {self.domain!r}")
        if self.output not in ("residual", "direct", "mask"):
            raise ConfigError(f"unknown output mode {self.output!r}")
        if self.domain == "audio" and (self.sample_rate is None or self.stft is None):
            raise ConfigError("an audio model needs sample_rate and stft")


@dataclass(frozen=True)
class CorruptionConfig(_Dictable):
    """The noise that training adds to clean data ("noise masks"); see :mod:`denoise.training.noise`.

    Image sigmas are on the 0-255 scale. Probabilities are per training example.
    """

    # images
    sigma_range: tuple[float, float] = (0.0, 55.0)
    p_camera: float = 0.0  # real-camera noise (training.photo_noise.camera); the shipped photo models train with it
    p_camera_nr: float = 0.0  # of the camera-noise examples: the camera's own noise reduction (photo_noise.camera_nr)
    p_phone: float = 0.0  # heavy phone and low-light noise, in-camera processing, JPEG (training.photo_noise.phone)
    p_jpeg: float = 0.0  # Gaussian-noise examples then saved as JPEG 4:2:0 (training.photo_noise.jpeg_random)
    p_poisson: float = 0.08
    p_salt_pepper: float = 0.07
    p_speckle: float = 0.07
    p_pixel_mask: float = 0.08
    # audio
    snr_range: tuple[float, float] = (-5.0, 20.0)
    p_recorded: float = 0.7
    p_hum: float = 0.1
    p_clicks: float = 0.1
    p_tf_mask: float = 0.2
    p_transient: float = 0.0  # synthetic sirens, horns, impacts over the noise (denoise.training.noise.transients)
    p_eq: float = 0.0  # the noise through a random equaliser (denoise.training.noise.random_eq)
    p_broadband: float = 0.0  # synthetic noise from denoise.training.noise.broadband instead of white/pink/brown
    p_room_tone: float = 0.0  # speech starts after 0.3-1.5 s of the noise alone (denoise.training.noise.room_tone)
    p_match_band: float = 0.0  # lower-rate speech, and this share of its noise, cut as inference cuts it (match_band)
    p_pauses: float = 0.0  # a 0.8-2.5 s pause in the speech, the noise going on (denoise.training.noise.pauses)
    gain_db_range: tuple[float, float] = (-40.0, 0.0)


# Mixed-precision choices for training (see denoise.device.autocast_dtype).
PRECISIONS = ("auto", "fp32", "bf16")
# Supervised image losses (denoise.training.losses.image_loss): l1 (the default, robust to the outliers of
# salt-and-pepper and dropout corruptions), mse (what PSNR scores) or psnr (minus each patch's PSNR).
IMAGE_LOSSES = ("l1", "mse", "psnr")
# Supervised audio losses (denoise.training.losses): spectral (the default: compressed-magnitude L1 at the model's
# STFT plus a waveform L1) or multires (that at three STFT sizes, plus SI-SDR).
AUDIO_LOSSES = ("spectral", "multires")
MIN_PATCH_SIZE = 8  # pixels or samples: the smallest crop --patch-size accepts


@dataclass
class TrainConfig(_Dictable):
    """One training run. ``steps`` wins over ``epochs`` when both are given. ``max_time`` (seconds of
    training, summed over resumes) is a budget: the learning-rate schedule runs over whichever of steps and
    time runs out first, so a time-limited run still ends annealed. ``precision`` is the autocast of the
    training step only (see `denoise.device.autocast_dtype`); validation runs as inference does, so scores
    stay comparable across runs and resumes. ``init`` (a shipped model's name or a checkpoint path) starts a
    new run from that model's weights instead of random ones, to fine-tune it; ``arch``, ``arch_args`` and
    ``channels`` left as None are taken from it (see ``denoise.training.loop.resolve_init``), and the rest must
    describe the same model. ``loss`` is the supervised image loss (``IMAGE_LOSSES``; None: l1). A run
    never replaces another run's files in ``out`` unless ``overwrite`` (or ``resume``, which continues it) is
    set."""

    domain: str
    data: list[str]
    out: str
    noise_dir: Optional[list[str]] = None  # one folder or several (a single string is read as one)
    val: Optional[str] = None
    arch: Optional[str] = None  # None: init's architecture, or "dae"
    arch_args: Optional[dict[str, Any]] = None  # None: init's arguments, or the architecture's defaults
    channels: Optional[int] = None
    steps: Optional[int] = None
    epochs: Optional[int] = None
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patch_size: Optional[int] = None
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    eval_every: int = 200
    save_every: int = 200
    num_workers: int = 2
    sample_rate: int = 16000
    stft: STFTConfig = field(default_factory=STFTConfig)
    corruption: CorruptionConfig = field(default_factory=CorruptionConfig)
    val_limit: int = 16
    max_time: Optional[float] = None
    self_supervised: bool = False
    pairs: Optional[str] = None  # a folder with clean/ and noisy/ images of the same names: real noise
    pairs_fraction: float = 0.5  # of the patches, when pairs is given
    blind_spot_fraction: float = 0.02
    precision: str = "auto"
    init: Optional[str] = None
    overwrite: bool = False
    loss: Optional[str] = None
    low_cut_hz: float = 0.0  # audio: see ModelConfig
    snapshots: bool = False  # also keep each evaluation's weights as snapshots/step-N.pt (to average them)

    def __post_init__(self) -> None:
        if isinstance(self.noise_dir, str):  # what earlier versions wrote, and a caller's single folder
            self.noise_dir = [self.noise_dir]
        if self.noise_dir is not None:
            self.noise_dir = list(self.noise_dir) or None
        if self.stft == STFTConfig() and self.sample_rate != 16000:  # the default STFT, scaled to the rate
            self.stft = STFTConfig.for_rate(self.sample_rate)
        if self.domain not in DOMAINS:
            raise ConfigError(f"domain must be one of {DOMAINS}, got {self.domain!r}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps= must be >= 1, got {self.steps}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs= must be >= 1, got {self.epochs}")
        if not 0 < self.blind_spot_fraction < 0.5:
            raise ConfigError(f"blind_spot_fraction must be in (0, 0.5), got {self.blind_spot_fraction}")
        if not 0 < self.pairs_fraction <= 1:
            raise ConfigError(f"pairs_fraction must be in (0, 1], got {self.pairs_fraction}")
        if self.pairs is not None and (self.domain != "image" or self.self_supervised):
            raise ConfigError("pairs= (real noisy/clean pairs) is for supervised image training")
        if self.self_supervised and self.noise_dir:
            raise ConfigError("self_supervised=True learns from noisy data alone: leave out noise_dir")
        if self.resume and self.overwrite:
            raise ConfigError("resume=True and overwrite=True contradict each other")
        if not (math.isfinite(self.lr) and self.lr >= 0):  # 0 is allowed: it keeps the weights (a test uses it)
            raise ConfigError(f"lr must be a finite number >= 0, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.max_time is not None and self.max_time <= 0:
            raise ConfigError(f"max_time must be > 0 seconds, got {self.max_time}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        known = IMAGE_LOSSES if self.domain == "image" else AUDIO_LOSSES
        if self.loss is not None and self.loss not in known:
            raise ConfigError(f"loss for {self.domain} must be one of {', '.join(known)}, got {self.loss!r}")
        if self.loss is not None and self.self_supervised:
            raise ConfigError("loss= applies to supervised training only (self_supervised=True uses its "
                              "blind-spot loss)")
        if self.patch_size is None:
            # images: pixels per side; audio: samples at sample_rate (2 s)
            self.patch_size = 64 if self.domain == "image" else 2 * self.sample_rate


_NESTED: dict[tuple[str, str], Any] = {
    ("ModelConfig", "stft"): STFTConfig,
    ("TrainConfig", "stft"): STFTConfig,
    ("TrainConfig", "corruption"): CorruptionConfig,
}
