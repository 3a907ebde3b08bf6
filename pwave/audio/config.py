"""``FeatureConfig``: the one object that says how audio becomes mel features.

It is saved with every prepared dataset, every checkpoint and every export, and
compared field by field whenever a model meets data (:meth:`FeatureConfig.check_matches`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pwave.errors import FeatureMismatchError  # noqa: F401


@dataclass(frozen=True)
class FeatureConfig:
    """Mel front-end settings.

    Attributes:
        sample_rate: waveform rate in Hz.
        n_fft: FFT size in samples.
        hop_length: samples per mel frame; ``len(audio) == frames * hop_length``.
        win_length: analysis window length in samples (<= n_fft).
        n_mels: number of mel bins.
        fmin, fmax: mel filterbank range in Hz (``fmax=None`` means sample_rate / 2).
        log_base: ``"e"`` or ``"10"``; the log applied to the mel magnitudes.
        log_floor: magnitudes are clamped to at least this before the log.
        mel_mean, mel_std: per-bin normalisation statistics of the training set
            (empty tuples mean "not normalised").
        mel_scale: ``"slaney"`` (librosa's default, linear below 1 kHz) or ``"htk"``
            (``2595 log10(1 + f / 700)``, torchaudio's default) mel scale.
        mel_norm: ``"slaney"`` (each filter scaled to unit area, librosa's default) or
            ``"none"`` (triangles of peak 1, torchaudio's default).
        power: ``1.0`` mel of the magnitude spectrum, ``2.0`` of the power spectrum.
        magnitude_eps: the spectrum is ``(|X|^2 + magnitude_eps) ** (power / 2)``
            (HiFi-GAN adds ``1e-9`` inside its square root).
        center: ``False`` (pwave's default): frame ``k`` is centred on the middle of the
            samples ``[k*hop, (k+1)*hop)``; ``True``: centred on sample ``k*hop``, as
            librosa/torch ``center=True`` (whose one extra last frame is dropped, so
            ``T // hop`` frames still).

    The last five fields (added for the front-end presets of :mod:`pwave.audio.presets`)
    are written by :meth:`to_dict` only when they differ from their defaults, so every
    config, dataset and checkpoint made before them reads and compares as before.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = 8000.0
    log_base: str = "e"
    log_floor: float = 1e-5
    mel_mean: tuple[float, ...] = field(default=(), repr=False)
    mel_std: tuple[float, ...] = field(default=(), repr=False)
    mel_scale: str = "slaney"
    mel_norm: str = "slaney"
    power: float = 1.0
    magnitude_eps: float = 0.0
    center: bool = False

    def __post_init__(self) -> None:
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length={self.win_length} must be <= n_fft={self.n_fft}")
        if self.hop_length <= 0 or self.sample_rate <= 0:
            raise ValueError("hop_length and sample_rate must be positive")
        if self.log_base not in ("e", "10"):
            raise ValueError(f"log_base must be 'e' or '10', got {self.log_base!r}")
        if self.mel_mean and len(self.mel_mean) != self.n_mels:
            raise ValueError(f"mel_mean has {len(self.mel_mean)} entries, n_mels={self.n_mels}")
        if self.mel_std and len(self.mel_std) != self.n_mels:
            raise ValueError(f"mel_std has {len(self.mel_std)} entries, n_mels={self.n_mels}")
        if self.mel_scale not in ("slaney", "htk"):
            raise ValueError(f"mel_scale must be 'slaney' or 'htk', got {self.mel_scale!r}")
        if self.mel_norm not in ("slaney", "none"):
            raise ValueError(f"mel_norm must be 'slaney' or 'none', got {self.mel_norm!r}")
        if self.power not in (1.0, 2.0):
            raise ValueError(f"power must be 1.0 (magnitude) or 2.0 (power), got {self.power!r}")
        if self.magnitude_eps < 0:
            raise ValueError(f"magnitude_eps must be >= 0, got {self.magnitude_eps}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict; the preset fields appear only when not at their defaults."""
        d = dataclasses.asdict(self)
        d["mel_mean"] = list(self.mel_mean)
        d["mel_std"] = list(self.mel_std)
        for name, default in OPTIONAL_DEFAULTS.items():
            if d[name] == default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown feature config fields: {sorted(unknown)}")
        d = dict(d)
        for key in ("mel_mean", "mel_std"):
            if key in d and d[key] is not None:
                d[key] = tuple(float(v) for v in d[key])
        if "power" in d:
            d["power"] = float(d["power"])
        return cls(**d)

    @property
    def spectrum_settings(self) -> tuple[Any, ...]:
        """Every field that shapes the linear mel spectrogram (all but log and statistics):
        two configs with equal ``spectrum_settings`` convert into each other exactly."""
        return (
            self.sample_rate, self.n_fft, self.hop_length, self.win_length, self.n_mels,
            self.fmin, self.fmax, self.mel_scale, self.mel_norm, self.power,
            self.magnitude_eps, self.center,
        )  # fmt: skip

    def replace(self, **changes: Any) -> FeatureConfig:
        return dataclasses.replace(self, **changes)

    def differences(self, other: FeatureConfig) -> list[str]:
        """Names of the fields whose values differ, with both values."""
        out = []
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if a != b:
                if f.name in ("mel_mean", "mel_std"):
                    out.append(f"{f.name} (normalisation statistics differ)")
                else:
                    out.append(f"{f.name}: {a!r} != {b!r}")
        return out

    def check_matches(
        self, other: FeatureConfig, what: str = "model", against: str = "data"
    ) -> None:
        """Raise :class:`FeatureMismatchError` naming each differing field."""
        diff = self.differences(other)
        if diff:
            raise FeatureMismatchError(
                f"feature config of the {what} does not match the {against}: " + "; ".join(diff)
            )


#: The fields :meth:`FeatureConfig.to_dict` leaves out at these values (older files lack them).
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "mel_scale": "slaney",
    "mel_norm": "slaney",
    "power": 1.0,
    "magnitude_eps": 0.0,
    "center": False,
}
