"""The Python API of synthesis: :class:`Vocoder` wraps a trained student or teacher with the
front end of its training data.

::

    from pwave.inference import Vocoder

    vocoder = Vocoder.from_checkpoint("runs/student-demo/student.pt")
    audio = vocoder.vocode_audio(samples, sample_rate=22050)  # copy synthesis
    audio = vocoder.vocode_mel(mel)  # [n_mels, frames] log-mel, as `pwave prepare` writes it

Audio is mixed to mono, resampled to the model's rate and zero-padded at the end to a
multiple of the hop before its log-mel is computed (:class:`~pwave.audio.mel.MelSpectrogram`)
-- exactly what ``pwave prepare`` does. A mel is normalised with the statistics of the model's
feature config and edge-padded with ``mel_context_frames`` frames on each side, as the
training data module does; ``F`` frames give ``F * hop`` samples. Batch synthesis of files is
:func:`pwave.inference.batch_synthesis.synthesize_paths`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pwave.audio.config import FeatureConfig
from pwave.audio.io import resample
from pwave.audio.mel import MelSpectrogram, pad_context
from pwave.flows.distributions import make_base
from pwave.model_io.loading import Model, load_model, model_kind
from pwave.sampling.chunking import chunk_windows, context_frames_needed
from pwave.sampling.time_major import FastStudentSampler

SAMPLERS = ("fast", "reference")  # how a student is run: fused time-major path or its modules
#: The most channels a ``[T, C]`` array may have to be read as one channels-last signal.
MAX_CHANNELS = 8
AUDIO_LAYOUTS = (
    "[T] (one mono signal), [B, T] (a batch of mono signals, T > 8) or [T, C] (one signal "
    "with C <= 8 channels last, as soundfile.read returns it, T > 8; mixed down to mono)"
)


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without CUDA is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but PyTorch sees no CUDA device")
    return dev


def resolve_dtype(dtype: str, device: torch.device) -> str:
    """``"auto"`` -> ``"bf16"`` on CUDA devices that support it, else ``"float32"``."""
    if dtype == "auto":
        ok = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return "bf16" if ok else "float32"
    if dtype not in ("float32", "bf16"):
        raise ValueError(f"dtype must be auto, float32 or bf16, got {dtype!r}")
    return dtype


def _as_numpy(x: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def mono_audio(audio: np.ndarray) -> np.ndarray:
    """``audio`` as ``[T]`` or ``[B, T]`` mono, read by its shape (see :data:`AUDIO_LAYOUTS`).

    * ``[T]``: one signal, returned as is;
    * ``[a, b]`` with ``b > 8``: a batch ``[B, T]`` of ``a`` signals, returned as is (a
      channels-first ``[C, T]`` array reads as a batch too: mix it down yourself);
    * ``[a, b]`` with ``b <= 8 < a``: one signal ``[T, C]`` with its ``C`` channels last (what
      ``soundfile.read`` returns); ``C > 1`` channels are averaged, with a warning;
    * anything else (``[2, 2]``, ``[8, 8]``, 3-D arrays ...) is ambiguous: ``ValueError``.
    """
    if audio.ndim == 1:
        return audio
    if audio.ndim == 2 and audio.shape[1] > MAX_CHANNELS:
        return audio
    if audio.ndim == 2 and audio.shape[0] > MAX_CHANNELS:
        if audio.shape[1] > 1:
            warnings.warn(
                f"audio of shape {audio.shape} read as one signal [T, C] with C = "
                f"{audio.shape[1]} channels last; mixed down to mono (the mean of the channels)",
                UserWarning,
                stacklevel=3,
            )
        return audio.mean(axis=1)
    raise ValueError(
        f"cannot tell the layout of audio of shape {audio.shape}: pass {AUDIO_LAYOUTS}"
    )


class Vocoder:
    """A student or teacher ready for synthesis, with the same front end as its training data.

    Args:
        model: a :class:`Student` or :class:`Teacher` (put in eval mode and moved to
            ``device``; its parameter dtype is kept).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or a device.
        dtype: ``"auto"`` (bf16 autocast on CUDA, float32 otherwise), ``"float32"`` or
            ``"bf16"`` (the student only -- the teacher's sequential sampler always runs in
            its own precision).
        sampler: ``"fast"`` (default) runs a student through
            :class:`~pwave.sampling.time_major.FastStudentSampler` (fused time-major
            WaveNets, with a bf16 conditioner for ``dtype="bf16"``; the same audio up to
            float rounding);
            ``"reference"`` runs ``Student.sample`` (under autocast for bf16). The teacher
            always uses its cached sequential sampler. The fast sampler folds the student's
            weights when the vocoder is built: build a new one after changing them.

    Shapes: audio ``[T]`` (or ``[B, T]``, or channels-last ``[T, C]`` mixed down: see
    :func:`mono_audio`) float in ``[-1, 1]`` at :attr:`sample_rate`; mel
    ``[n_mels, frames]`` (or ``[B, n_mels, frames]``) unnormalised log-mel; outputs are numpy
    ``float32`` with ``frames * hop`` samples per item (not clipped).
    """

    def __init__(
        self,
        model: Model,
        device: str | torch.device = "auto",
        dtype: str = "auto",
        sampler: str = "fast",
    ):
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        self.kind = model_kind(model)
        self.device = resolve_device(device) if isinstance(device, str) else torch.device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.model = model.eval().to(self.device)
        self.param_dtype = next(self.model.parameters()).dtype
        self.features: FeatureConfig = model.features
        self.context = int(model.config.mel_context_frames)
        self.front_end = MelSpectrogram(self.features)
        self.normalizes = self.front_end.has_stats
        self._base = make_base(model.config.base)  # CPU float32: device-independent noise
        self.sampler = sampler
        self._fast = None
        if self.kind == "student" and sampler == "fast":
            low = torch.bfloat16 if self.dtype == "bf16" else None
            self._fast = FastStudentSampler(self.model, dtype=low)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "auto",
        dtype: str = "auto",
        sampler: str = "fast",
    ) -> Vocoder:
        """:func:`load_model` then wrap."""
        return cls(load_model(path), device, dtype, sampler)

    # -- properties ------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.features.sample_rate

    @property
    def hop_length(self) -> int:
        return self.features.hop_length

    @property
    def n_mels(self) -> int:
        return self.features.n_mels

    @property
    def uses_autocast(self) -> bool:
        return self.dtype == "bf16" and self.kind == "student" and self._fast is None

    # -- front end ---------------------------------------------------------------------------
    def audio_to_mel(self, audio: np.ndarray | Tensor) -> np.ndarray:
        """Unnormalised log-mel ``[n_mels, ceil(T / hop)]`` of ``audio [T]`` at the model's rate.

        The audio is zero-padded at the end to a multiple of the hop first, as in
        ``pwave prepare``.
        """
        a = _as_numpy(audio)
        if a.ndim != 1:
            raise ValueError(f"audio must be [time], got shape {a.shape}")
        if a.size == 0:
            raise ValueError("audio has no samples")
        if not np.isfinite(a).all():
            raise ValueError("audio contains NaN/inf samples")
        hop = self.hop_length
        frames = -(-a.shape[0] // hop)
        a = np.pad(a, (0, frames * hop - a.shape[0]))
        with torch.no_grad():
            mel = self.front_end(torch.from_numpy(a)[None])[0]
        return mel.numpy()

    def model_input(self, mel: np.ndarray | Tensor, normalized: bool = False) -> Tensor:
        """What the model reads, as in training: ``[n_mels, F] -> [n_mels, F + 2 * context]``.

        Normalises with the feature config's statistics (unless ``normalized`` or the config
        has none) and edge-pads ``mel_context_frames`` frames on each side. CPU float32.
        """
        m = torch.as_tensor(_as_numpy(mel))
        if m.dim() != 2 or m.shape[0] != self.n_mels:
            raise ValueError(f"mel must be [{self.n_mels}, frames], got {tuple(m.shape)}")
        if m.shape[1] < 1:
            raise ValueError("mel has 0 frames")
        if self.normalizes and not normalized:
            m = self.front_end.normalize(m)
        return pad_context(m, self.context)

    def noise(self, frames: int, seed: int, temperature: float = 1.0) -> Tensor:
        """Base noise ``[frames * hop]`` from ``torch.Generator().manual_seed(seed)`` (CPU
        float32, the same on every device), scaled by ``temperature``."""
        gen = torch.Generator().manual_seed(int(seed))
        n = frames * self.hop_length
        return self._base.sample(1, (n,), generator=gen, temperature=temperature)[0]

    # -- synthesis ---------------------------------------------------------------------------
    def _autocast(self):
        if self.uses_autocast:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def synthesize_batch(self, inputs: Sequence[Tensor], noises: Sequence[Tensor]) -> list[Tensor]:
        """Run the model on a batch of model inputs of any lengths.

        Args:
            inputs: per item ``[n_mels, F_i + 2 * context]`` (from :meth:`model_input`).
            noises: per item ``[F_i * hop]``.

        Returns:
            Per item ``[F_i * hop]`` float32 CPU tensors. Shorter items are padded at the end
            by repeating their last column (noise: zeros) and trimmed afterwards.
        """
        if len(inputs) != len(noises) or not inputs:
            raise ValueError("give one noise per input, and at least one input")
        width = max(m.shape[-1] for m in inputs)
        mel = torch.stack(
            [F.pad(m[None], (0, width - m.shape[-1]), mode="replicate")[0] for m in inputs]
        )
        lengths = [z.shape[-1] for z in noises]
        z = torch.stack([F.pad(n, (0, max(lengths) - n.shape[-1])) for n in noises])
        mel = mel.to(self.device, self.param_dtype)
        z = z.to(self.device, self.param_dtype)
        with torch.inference_mode(), self._autocast():
            if self._fast is not None:
                audio = self._fast(mel, z)
            elif self.kind == "student":
                audio = self.model.sample(mel, z=z)
            else:
                audio = self.model.sample(mel, z=z, method="cached")
        audio = audio.float().cpu()
        return [audio[i, :n] for i, n in enumerate(lengths)]

    def synthesize_long(self, model_input: Tensor, noise: Tensor, max_samples: int) -> Tensor:
        """One student item in chunks of at most ``max_samples`` samples per pass (overlap
        included), equal to a whole pass up to rounding (:func:`chunk_windows`).

        ``model_input [n_mels, F + 2 * context]``, ``noise [F * hop]`` -> ``[F * hop]``.
        The teacher (sequential) is run whole.
        """
        hop, ctx = self.hop_length, self.context
        frames = noise.shape[-1] // hop
        left, right = context_frames_needed(self.model)
        chunk = max(1, max_samples // hop - left - right)
        if self.kind != "student" or chunk >= frames:
            return self.synthesize_batch([model_input], [noise])[0]
        out = torch.empty(frames * hop)
        for f0, f1, w0, w1 in chunk_windows(frames, chunk, left, right):
            part = self.synthesize_batch(
                [model_input[:, w0 : w1 + 2 * ctx]], [noise[w0 * hop : w1 * hop]]
            )[0]
            out[f0 * hop : f1 * hop] = part[(f0 - w0) * hop : (f1 - w0) * hop]
        return out

    def vocode_mel(
        self,
        mel: np.ndarray | Tensor,
        temperature: float = 1.0,
        seed: int = 0,
        normalized: bool = False,
    ) -> np.ndarray:
        """Audio from an unnormalised log-mel.

        Args:
            mel: ``[n_mels, frames]`` or ``[B, n_mels, frames]`` (as ``pwave prepare`` writes
                them; pass ``normalized=True`` for mels already normalised).
            temperature: scale of the base noise.
            seed: item ``i`` of the batch draws its noise with seed ``seed + i``.

        Returns:
            ``[frames * hop]`` (or ``[B, frames * hop]``) float32.
        """
        m = _as_numpy(mel)
        batched = m.ndim == 3
        items = list(m) if batched else [m]
        inputs = [self.model_input(x, normalized) for x in items]
        noises = [self.noise(x.shape[-1], seed + i, temperature) for i, x in enumerate(items)]
        out = torch.stack(self.synthesize_batch(inputs, noises)).numpy()
        return out if batched else out[0]

    def vocode_audio(
        self,
        audio: np.ndarray | Tensor,
        sample_rate: int | None = None,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> np.ndarray:
        """Copy synthesis: mel of ``audio`` (computed here), then :meth:`vocode_mel`.

        Args:
            audio: in ``[-1, 1]``, read by its shape (:func:`mono_audio`): ``[T]`` one signal,
                ``[B, T]`` a batch (``T > 8``), or ``[T, C]`` one signal with ``C <= 8``
                channels last (as ``soundfile.read`` returns it; ``T > 8``), mixed down to
                mono with a warning. Other shapes (``[2, 2]``, 3-D ...) raise ``ValueError``.
            sample_rate: rate of ``audio`` in Hz; resampled to the model's rate if it differs
                (``None``: already at the model's rate).

        Returns:
            ``[ceil(T' / hop) * hop]`` (or ``[B, ...]`` for a batch) float32 at
            :attr:`sample_rate`, where ``T'`` is the length after resampling.
        """
        a = mono_audio(_as_numpy(audio))
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            a = resample(a, int(sample_rate), self.sample_rate)
        if a.ndim == 2:
            return self.vocode_mel(np.stack([self.audio_to_mel(x) for x in a]), temperature, seed)
        return self.vocode_mel(self.audio_to_mel(a), temperature, seed)

    def stream(
        self,
        mel_chunks: Iterable[np.ndarray | Tensor],
        noise: np.ndarray | Tensor | None = None,
        seed: int = 0,
        temperature: float = 1.0,
        normalized: bool = False,
        lookahead: int | None = None,
    ) -> Iterator[np.ndarray]:
        """Streaming synthesis (students only): mel chunks in, audio chunks out.

        Each chunk is ``[n_mels, k]`` unnormalised log-mel (``normalized=True``: already
        normalised), ``k >= 0`` frames. Audio is yielded as soon as it is final: the audio of
        frame ``f`` once ``f + 1 + L`` frames have arrived, ``L`` =
        :func:`~pwave.inference.streaming.lookahead_frames` (the smallest exact look-ahead;
        ``lookahead`` overrides it, for tests); the rest when the iterator ends. The chunks
        joined equal :meth:`synthesize_batch` on the whole mel with the same noise: ``noise``
        (``[>= F * hop]``), or, by default, one frame of noise at a time from ``seed``
        (:func:`~pwave.inference.streaming.frame_noise` gives it for the offline pass).
        Yields float32 ``[j * hop]`` arrays.
        """
        from pwave.inference.streaming import FrameNoise, stream_student

        if noise is None:
            source = FrameNoise(self._base, self.hop_length, seed, temperature)
        else:
            source = torch.as_tensor(_as_numpy(noise))

        def chunks() -> Iterator[Tensor]:
            for chunk in mel_chunks:
                m = torch.as_tensor(_as_numpy(chunk))
                if m.dim() != 2 or m.shape[0] != self.n_mels:
                    shape = tuple(m.shape)
                    raise ValueError(f"a mel chunk must be [{self.n_mels}, k], got {shape}")
                yield self.front_end.normalize(m) if self.normalizes and not normalized else m

        def run(model_input: Tensor, z: Tensor) -> Tensor:
            return self.synthesize_batch([model_input], [z])[0]

        for audio in stream_student(self.model, run, chunks(), source, lookahead):
            yield audio.numpy()
