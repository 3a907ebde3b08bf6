r"""Training health: alarms for the failures that otherwise pass silently.

Parallel WaveNet reproductions fail quietly: a student that *whispers* (samples far quieter
than speech) or *collapses* (silence, or loud noise), a teacher that never beats linear
prediction. The training modules (:mod:`pwave.train.student`, :mod:`pwave.train.teacher`)
feed these monitors at each validation and warn on the console and in TensorBoard
(``<stage>/health_alarm``) when one fires.

* :class:`StudentHealth`: octave-band powers (:func:`pwave.audio.bands.band_powers`) of the
  student's samples against the real audio of the same mels; alarm when their mean dB
  difference is off by more than :attr:`HealthThresholds.band_db` for
  :attr:`HealthThresholds.patience` validations in a row.
* :class:`TeacherHealth`: the teacher's dev bits per sample against the order-p linear
  prediction baseline on the same audio; alarm at any validation from
  :attr:`HealthThresholds.teacher_grace_steps` on where the teacher is still worse.

All thresholds are in :class:`HealthThresholds` (:data:`DEFAULT_THRESHOLDS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from pwave.audio.bands import POWER_FLOOR, band_label, band_powers, octave_bands


@dataclass(frozen=True)
class HealthThresholds:
    """When the health monitors raise their alarm.

    Attributes:
        band_db: largest tolerated absolute difference (dB) between the student's and the
            real audio's band powers, averaged over the octave bands. 15 dB (a factor of 32
            in power, 5.6 in RMS): a healthy demo student at its first validation (step 100)
            measured -11.7 dB (its low bands not yet voiced), a student scaled by 0.01 is
            -40 dB and one scaled by 0.1 -20 dB.
        patience: consecutive validations the student must be off before the alarm (2: one
            bad validation early in training is normal, two in a row is a trend).
        teacher_grace_steps: optimizer steps the teacher gets to pass the linear-prediction
            baseline (1,000: on the demo corpus the demo teacher is still 0.1 bit above it at
            step 500 and wavers around it until about step 800, then stays below; the
            real-speech teacher of issue 16, 0.78 bit above it after 1,275 steps, fires).
        teacher_margin_bits: bits per sample the teacher may exceed the baseline by (0: it
            must be no worse).
    """

    band_db: float = 15.0
    patience: int = 2
    teacher_grace_steps: int = 1000
    teacher_margin_bits: float = 0.0


#: The thresholds the training modules use.
DEFAULT_THRESHOLDS = HealthThresholds()


@dataclass
class StudentHealth:
    """Accumulates band powers over one validation (:meth:`add`) and judges it (:meth:`end`).

    Args:
        sample_rate: of the audio (the bands are clipped to its Nyquist frequency).
        thresholds: when to raise the alarm.
    """

    sample_rate: int
    thresholds: HealthThresholds = DEFAULT_THRESHOLDS
    strikes: int = 0
    _sums: Tensor | None = field(default=None, repr=False)

    @property
    def bands(self) -> list[tuple[float, float]]:
        return octave_bands(self.sample_rate)

    def add(self, generated: Tensor, real: Tensor) -> None:
        """Add a batch: the student's audio and the real audio for the same mels
        (``[batch, T]`` each; weighted by their number of samples)."""
        pair = torch.stack(
            [
                torch.cat([band_powers(x, self.sample_rate) * x.numel(), x.new_tensor([x.numel()])])
                for x in (generated.double(), real.double())
            ]
        )
        self._sums = pair if self._sums is None else self._sums + pair

    @property
    def sums(self) -> Tensor | None:
        """``[2, bands + 1]``: per row (generated, real) the powers summed weighted by sample
        count, then the sample count (sum it across processes), or ``None`` before any
        :meth:`add`."""
        return self._sums

    def end(self, sums: Tensor | None = None) -> StudentVerdict | None:
        """Judge the validation (``sums``: :attr:`sums`, possibly summed over processes) and
        reset; ``None`` when nothing was added."""
        sums = self._sums if sums is None else sums
        self._sums = None
        if sums is None:
            return None
        sums = sums.double().cpu()
        db = 10.0 * torch.log10(sums[:, :-1] / sums[:, -1:].clamp_min(1.0) + POWER_FLOOR)
        diffs = (db[0] - db[1]).tolist()
        mean_db = sum(diffs) / len(diffs)
        off = abs(mean_db) > self.thresholds.band_db
        self.strikes = self.strikes + 1 if off else 0
        return StudentVerdict(
            {band_label(b): d for b, d in zip(self.bands, diffs)},
            mean_db,
            self.strikes >= self.thresholds.patience,
            self.strikes,
            self.thresholds,
        )


@dataclass(frozen=True)
class StudentVerdict:
    """One validation's judgement: per-band dB differences (student minus real), their mean,
    whether the alarm is raised, and the run of off validations so far."""

    band_db: dict[str, float]
    mean_db: float
    alarm: bool
    strikes: int
    thresholds: HealthThresholds

    def message(self) -> str:
        what = "quieter" if self.mean_db < 0 else "louder"
        kind = "whispers or has collapsed" if self.mean_db < 0 else "is louder than speech"
        bands = ", ".join(f"{k} {v:+.1f}" for k, v in self.band_db.items())
        return (
            f"pwave: health alarm: the student's samples are {abs(self.mean_db):.1f} dB {what} "
            f"than the real audio (mean over octave bands; threshold "
            f"{self.thresholds.band_db:g} dB) for {self.strikes} validations in a row: it "
            f"{kind}. Per band (dB): {bands}. Check the teacher (its samples, its dev bits "
            "against the LPC baseline), the student's init_log_scale and the power/STFT loss "
            "weights."
        )


@dataclass
class TeacherHealth:
    """Accumulates the teacher's and the baseline's dev bits per sample over one validation
    (:meth:`add`) and judges them against the step reached (:meth:`end`)."""

    thresholds: HealthThresholds = DEFAULT_THRESHOLDS
    _sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0], repr=False)

    def add(self, teacher_bits: float, baseline_bits: float, weight: float = 1.0) -> None:
        """Add a batch's mean bits per sample (teacher, baseline), weighted by ``weight``."""
        self._sums[0] += float(teacher_bits) * weight
        self._sums[1] += float(baseline_bits) * weight
        self._sums[2] += weight

    def end(self, step: int) -> TeacherVerdict | None:
        """Judge the validation at optimizer step ``step`` and reset; ``None`` without data."""
        teacher, baseline, weight = self._sums
        self._sums = [0.0, 0.0, 0.0]
        if weight <= 0:
            return None
        teacher, baseline = teacher / weight, baseline / weight
        t = self.thresholds
        alarm = step >= t.teacher_grace_steps and teacher > baseline + t.teacher_margin_bits
        return TeacherVerdict(teacher, baseline, step, alarm, t)


@dataclass(frozen=True)
class TeacherVerdict:
    """One validation's judgement of the teacher against the linear-prediction baseline."""

    teacher_bits: float
    baseline_bits: float
    step: int
    alarm: bool
    thresholds: HealthThresholds

    def message(self) -> str:
        return (
            f"pwave: health alarm: after {self.step} steps the teacher still codes the dev "
            f"audio in {self.teacher_bits:.2f} bits per sample, worse than the linear-prediction "
            f"baseline's {self.baseline_bits:.2f} (a teacher gets "
            f"{self.thresholds.teacher_grace_steps} steps to pass it). Train longer, lower the "
            "learning rate or check the data (silence, clipping, sample rate)."
        )


__all__ = [
    "DEFAULT_THRESHOLDS",
    "HealthThresholds",
    "StudentHealth",
    "StudentVerdict",
    "TeacherHealth",
    "TeacherVerdict",
]
