r"""``pwave synthesize``: turn recordings or mel spectrograms into audio with a trained vocoder.

::

    pwave synthesize --checkpoint runs/student-demo/student.pt --input wavs/ --output out/

Inputs (``--input`` is a file or a folder, searched recursively):

* **audio files** (anything :func:`pwave.audio.io.load_audio` reads): copy synthesis. The
  audio is mixed to mono, resampled to the model's rate (reported), zero-padded at the end to
  a multiple of the hop and turned into a log-mel by :class:`~pwave.audio.mel.MelSpectrogram`
  -- exactly what ``pwave prepare`` does -- so the model sees the features it was trained on;
* **mels** ``.npy`` of shape ``[n_mels, frames]``: unnormalised log-mel, as ``pwave prepare``
  writes them (``<prepared dataset>/mel/*.npy``).

Every mel is then fed to the model as the training data module feeds it
(:mod:`pwave.train.datamodule`): normalised per bin with the statistics in the model's feature
config and edge-padded with ``mel_context_frames`` frames on each side. A mel of ``F`` frames
gives ``F * hop`` samples, written as a 16-bit wav at the model's rate.

Checkpoints: a student or teacher saved by ``pwave train`` (``student.pt`` / ``teacher.pt``,
or a Lightning ``.ckpt`` of the run), or an export folder of :mod:`pwave.model_io.export`; the
kind is
read from the file (:func:`load_model`). The student generates a whole utterance in one
parallel pass; a teacher works too, with its sequential cached sampler (slow: one sample at a
time).

Batching: inputs are sorted by length and grouped into batches of at most
``--batch-seconds`` padded seconds; a shorter mel of a batch is padded at its end by repeating
its last (context-padded) column, and its output is trimmed. The noise of item ``i`` comes from
its own generator seeded with ``seed + i`` (``i`` = position in path order), so an output
does not depend on the batch it ran in, except within about two frames of the end of a shorter
item (both models are causal, but the upsampler's smoothing near the end sees the padding).
A student input longer than ``--batch-seconds`` runs alone, in chunks that overlap by the
student's receptive field (:func:`chunk_windows`), which bounds memory and gives the same
audio as one pass; a teacher input runs whole.

Speed is reported per file and in total as the real-time factor, **RTF = wall time / audio
time (lower is better)**, and as "x real time" (audio seconds per wall second). A file's share
of a batch's wall time is proportional to its length.

Bad inputs (unreadable, empty, NaN/inf, a zero-length mel, a mel with the wrong number of
bins, random bytes ...) are skipped with their path and reason, printed and written to
``report.json`` in the output folder; the exit code is non-zero only if nothing could be
synthesised.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pwave.audio.config import FeatureConfig
from pwave.audio.io import AudioReadError, audio_extensions, load_audio, resample, save_wav
from pwave.audio.mel import MelSpectrogram, pad_context
from pwave.errors import CheckpointError, InputError  # noqa: F401
from pwave.flows.distributions import make_base
from pwave.model_io.loading import Model, load_model, model_kind
from pwave.sampling.chunking import chunk_windows, context_frames_needed, upsampler_reach  # noqa: F401
from pwave.sampling.fused import FastStudentSampler

REPORT_FILE = "report.json"
MEL_EXTENSION = ".npy"
SAMPLERS = ("fast", "reference")  # how a student is run: fused time-major path or its modules
RTF_DEFINITION = (
    "RTF = wall time / audio time (lower is better); x real time = audio time / wall time"
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


# --------------------------------------------------------------------------------------------
# The Python API
# --------------------------------------------------------------------------------------------


def _as_numpy(x: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


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
            :class:`~pwave.sampling.fused.FastStudentSampler` (fused time-major WaveNets, with a
            bf16 conditioner for ``dtype="bf16"``; the same audio up to float rounding);
            ``"reference"`` runs ``Student.sample`` (under autocast for bf16). The teacher
            always uses its cached sequential sampler. The fast sampler folds the student's
            weights when the vocoder is built: build a new one after changing them.

    Shapes: audio ``[T]`` (or ``[B, T]``) float in ``[-1, 1]`` at :attr:`sample_rate`; mel
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
            audio: ``[T]`` or ``[B, T]`` in ``[-1, 1]``.
            sample_rate: rate of ``audio`` in Hz; resampled to the model's rate if it differs
                (``None``: already at the model's rate).

        Returns:
            ``[ceil(T' / hop) * hop]`` (or batched) float32 at :attr:`sample_rate`, where
            ``T'`` is the length after resampling.
        """
        a = _as_numpy(audio)
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            a = resample(a, int(sample_rate), self.sample_rate)
        if a.ndim == 2:
            return self.vocode_mel(np.stack([self.audio_to_mel(x) for x in a]), temperature, seed)
        return self.vocode_mel(self.audio_to_mel(a), temperature, seed)


# --------------------------------------------------------------------------------------------
# Reading inputs
# --------------------------------------------------------------------------------------------


def input_extensions() -> tuple[str, ...]:
    """File extensions (lower case, with dot) taken as inputs when scanning a folder."""
    return (*audio_extensions(), MEL_EXTENSION)


def find_inputs(
    root: str | os.PathLike, exclude: str | os.PathLike | None = None
) -> tuple[list[Path], list[Path]]:
    """``(inputs, ignored)``: files under ``root`` (recursively, sorted) with an audio or
    ``.npy`` extension, and the other files. A file ``root`` is an input whatever its name.
    Files under ``exclude`` (e.g. the output folder) are left out of both."""
    root = Path(root)
    if root.is_file():
        return [root], []
    exts = set(input_extensions())
    ex = Path(exclude).resolve() if exclude is not None else None
    inputs, ignored = [], []
    for p in sorted(root.rglob("*")):
        dangling = p.is_symlink() and not p.exists()  # kept, so the report names it
        if not (p.is_file() or dangling) or (ex is not None and ex in p.resolve().parents):
            continue
        (inputs if p.suffix.lower() in exts else ignored).append(p)
    return inputs, ignored


def load_mel_file(path: str | os.PathLike, n_mels: int) -> np.ndarray:
    """Read and check a saved mel ``[n_mels, frames]`` (``.npy``, no pickles).

    Raises:
        InputError: unreadable, not a plain numeric array, wrong shape or bin count,
            zero frames, or NaN/inf values.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise InputError(path, f"cannot open: {err.strerror or err}") from None
    if size == 0:
        raise InputError(path, "empty file (0 bytes)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(path, f"not a readable .npy array ({size} bytes: {msg})") from None
    if not isinstance(arr, np.ndarray) or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise InputError(path, f"not a numeric mel array (dtype {getattr(arr, 'dtype', '?')})")
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise InputError(path, f"a mel must be [n_mels, frames]; got shape {list(arr.shape)}")
    if arr.shape[0] != n_mels:
        hint = (
            f"; it looks transposed ([frames, n_mels]): save it as [{n_mels}, frames]"
            if arr.shape[1] == n_mels
            else ""
        )
        raise InputError(
            path, f"mel has {arr.shape[0]} bins but the model expects n_mels={n_mels}{hint}"
        )
    if arr.shape[1] == 0:
        raise InputError(path, "zero-length mel (0 frames)")
    arr = arr.astype(np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        raise InputError(path, f"mel contains {int(arr.size - finite.sum())} NaN/inf value(s)")
    return arr


@dataclass
class Job:
    """One input to synthesise.

    Attributes:
        path: the input file; ``output``: the wav to write.
        source: ``"audio"`` (copy synthesis) or ``"mel"``.
        mel: ``[n_mels, frames]`` unnormalised log-mel.
        seed: seed of the item's noise generator.
        notes: changes made while reading (resampling, mix-down ...).
    """

    path: Path
    output: Path
    source: str
    mel: np.ndarray
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return int(self.mel.shape[1])


def read_input(vocoder: Vocoder, path: Path) -> tuple[str, np.ndarray, list[str]]:
    """``(source, mel [n_mels, frames], notes)`` for one input file; raises :class:`InputError`."""
    if path.suffix.lower() == MEL_EXTENSION:
        return "mel", load_mel_file(path, vocoder.n_mels), []
    try:
        loaded = load_audio(path, sample_rate=vocoder.sample_rate, mono=True)
    except AudioReadError as err:
        raise InputError(path, err.reason) from None
    return "audio", vocoder.audio_to_mel(loaded.audio), list(loaded.notes)


def output_paths(inputs: Sequence[Path], root: Path, out_dir: Path) -> list[Path]:
    """``out_dir / <path relative to root>.wav`` per input (``name.ext.wav`` on a clash)."""
    taken: set[Path] = set()
    outs = []
    for p in inputs:
        rel = Path(p.name) if root.is_file() else p.relative_to(root)
        out = out_dir / rel.with_suffix(".wav")
        if out in taken:
            out = out_dir / rel.parent / (rel.name + ".wav")
        taken.add(out)
        outs.append(out)
    return outs


def make_batches(jobs: Sequence[Job], hop: int, sample_rate: int, batch_seconds: float):
    """Sort ``jobs`` by length and group them so that ``batch size * longest <= batch_seconds``
    (a longer job runs alone). Returns a list of job lists."""
    order = sorted(jobs, key=lambda j: (j.frames, str(j.path)))
    budget = batch_seconds * sample_rate
    batches: list[list[Job]] = []
    for job in order:
        n = job.frames * hop  # sorted, so the newest job is the longest of its batch
        if batches and (len(batches[-1]) + 1) * n <= budget:
            batches[-1].append(job)
        else:
            batches.append([job])
    return batches


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 6) if den > 0 else None


def synthesize_paths(
    vocoder: Vocoder,
    input_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    batch_seconds: float = 30.0,
    temperature: float = 1.0,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """Synthesise every input under ``input_path`` into ``out_dir``; returns the report.

    Writes ``<out_dir>/<relative path>.wav`` per good input and ``<out_dir>/report.json``.
    A bad input is skipped with its reason; nothing here raises for a bad input.
    """
    from tqdm.auto import tqdm

    say = log or (lambda _msg: None)
    start = time.perf_counter()
    root, out = Path(input_path), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, ignored = find_inputs(root, exclude=out)
    outputs = output_paths(paths, root, out)

    jobs: list[Job] = []
    skipped: list[dict[str, str]] = []
    for i, (p, o) in enumerate(
        tqdm(
            list(zip(paths, outputs)),
            desc="read",
            unit="file",
            disable=not progress,
            leave=False,
            file=sys.stderr,
        )
    ):
        try:
            source, mel, notes = read_input(vocoder, p)
        except InputError as err:
            skipped.append({"path": str(p), "reason": err.reason})
            continue
        except Exception as err:  # noqa: BLE001 - a bad file must never stop the run
            skipped.append(
                {"path": str(p), "reason": f"unexpected error: {type(err).__name__}: {err}"}
            )
            continue
        jobs.append(Job(p, o, source, mel, seed + i, notes))

    sr, hop = vocoder.sample_rate, vocoder.hop_length
    if jobs:  # one short untimed pass: lazy initialisation must not count in the first file
        with contextlib.suppress(Exception):  # a real failure shows up (per file) below
            warm = jobs[0].mel[:, :2]
            vocoder.synthesize_batch(
                [vocoder.model_input(warm)], [vocoder.noise(warm.shape[1], seed, temperature)]
            )

    done: list[dict[str, Any]] = []
    bar = tqdm(
        total=len(jobs), desc="synthesize", unit="file", disable=not progress, file=sys.stderr
    )
    model_wall = 0.0
    queue = make_batches(jobs, hop, sr, batch_seconds)
    budget = max(1, int(batch_seconds * sr))
    while queue:
        batch = queue.pop(0)
        try:
            inputs = [vocoder.model_input(j.mel) for j in batch]
            noises = [vocoder.noise(j.frames, j.seed, temperature) for j in batch]
            _sync(vocoder.device)
            t0 = time.perf_counter()
            if len(batch) == 1 and noises[0].shape[-1] > budget:  # too long: in chunks
                audios = [vocoder.synthesize_long(inputs[0], noises[0], budget)]
            else:
                audios = vocoder.synthesize_batch(inputs, noises)
            _sync(vocoder.device)
            wall = time.perf_counter() - t0
        except Exception as err:  # noqa: BLE001 - e.g. out of memory: retry one by one
            if vocoder.device.type == "cuda":
                torch.cuda.empty_cache()
            if len(batch) > 1:
                queue[:0] = [[j] for j in batch]
                continue
            reason = f"synthesis failed: {type(err).__name__}: {err}"
            skipped.append({"path": str(batch[0].path), "reason": reason})
            bar.update(1)
            continue
        model_wall += wall
        total = sum(a.shape[-1] for a in audios)
        for job, audio in zip(batch, audios):
            bar.update(1)
            if not torch.isfinite(audio).all():
                skipped.append({"path": str(job.path), "reason": "the model produced NaN/inf"})
                continue
            try:
                save_wav(job.output, audio.numpy(), sr)
            except Exception as err:  # noqa: BLE001
                reason = f"cannot write {job.output}: {type(err).__name__}: {err}"
                skipped.append({"path": str(job.path), "reason": reason})
                continue
            seconds = audio.shape[-1] / sr
            share = wall * audio.shape[-1] / total
            done.append(
                {
                    "input": str(job.path),
                    "output": str(job.output),
                    "source": job.source,
                    "frames": job.frames,
                    "samples": int(audio.shape[-1]),
                    "seconds": round(seconds, 6),
                    "wall_seconds": round(share, 6),
                    "rtf": _ratio(share, seconds),
                    "x_real_time": _ratio(seconds, share),
                    "notes": job.notes,
                }
            )
    bar.close()

    done.sort(key=lambda d: d["input"])
    skipped.sort(key=lambda d: d["path"])
    audio_seconds = sum(d["seconds"] for d in done)
    run_wall = time.perf_counter() - start
    report = {
        "checkpoint": checkpoint,
        "kind": vocoder.kind,
        "device": str(vocoder.device),
        "dtype": "bf16 autocast"
        if vocoder.uses_autocast
        else str(vocoder.param_dtype).removeprefix("torch."),
        "sample_rate": sr,
        "hop_length": hop,
        "temperature": temperature,
        "seed": seed,
        "batch_seconds": batch_seconds,
        "input": str(root),
        "output": str(out),
        "found": len(paths),
        "synthesized_count": len(done),
        "skipped_count": len(skipped),
        "ignored": [str(p) for p in ignored],
        "rtf_definition": RTF_DEFINITION,
        "total": {
            "audio_seconds": round(audio_seconds, 6),
            "model_wall_seconds": round(model_wall, 6),
            "rtf": _ratio(model_wall, audio_seconds),
            "x_real_time": _ratio(audio_seconds, model_wall),
            "run_wall_seconds": round(run_wall, 6),
            "run_rtf": _ratio(run_wall, audio_seconds),
        },
        "files": done,
        "skipped": skipped,
    }
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    for line in report_lines(report):
        say(line)
    return report


def _fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def report_lines(report: dict[str, Any]) -> list[str]:
    """Human-readable summary of a :func:`synthesize_paths` report."""
    lines = []
    for d in report["files"]:
        notes = f" [{'; '.join(d['notes'])}]" if d["notes"] else ""
        lines.append(
            f"  {d['input']} -> {d['output']}: {d['seconds']:.2f} s, RTF {_fmt(d['rtf'], '.4f')}"
            f" ({_fmt(d['x_real_time'], '.1f')}x real time){notes}"
        )
    t = report["total"]
    lines.append(
        f"synthesised {report['synthesized_count']} of {report['found']} file(s) with the "
        f"{report['kind']} on {report['device']} ({report['dtype']}): {t['audio_seconds']:.2f} s "
        f"of audio in {t['model_wall_seconds']:.2f} s of synthesis: RTF = wall time / audio "
        f"time = {_fmt(t['rtf'], '.4f')} (lower is better), {_fmt(t['x_real_time'], '.1f')}x "
        f"real time; whole run incl. reading and writing: {t['run_wall_seconds']:.2f} s "
        f"(RTF {_fmt(t['run_rtf'], '.4f')})"
    )
    if report["skipped"]:
        lines.append(f"skipped {report['skipped_count']} file(s):")
        lines += [f"  {s['path']}: {s['reason']}" for s in report["skipped"]]
    if report["ignored"]:
        lines.append(
            f"ignored {len(report['ignored'])} file(s) that are neither audio nor .npy mels"
        )
    lines.append(f"report: {Path(report['output']) / REPORT_FILE}")
    return lines
