r"""Streaming synthesis: mel chunks in, audio chunks out, equal to the offline pass.

This is the incremental form of the exact chunking of long files
(:func:`~pwave.sampling.chunking.chunk_windows`). A student's sample :math:`t` depends on

* the base noise :math:`z_{t - rf + 1 .. t}` and the conditioning over the same span (its
  WaveNets are causal), and
* through the upsampler, on the context convolution's outputs within ``reach`` samples
  (:func:`~pwave.sampling.chunking.upsampler_reach`), which read ``mel_context_frames``
  mel frames on each side.

So once ``R`` mel frames have arrived, the audio of every frame ``k < R - L`` is final, with
the look-ahead :math:`L` = ``mel_context_frames + ceil(reach / hop)`` frames
(:func:`lookahead_frames`): a window of frames ``[k0 - left, R - ctx)`` computed now gives
exactly the offline samples of frames ``[k0, R - L)``. The window ends where the smoothing
convolutions' replicate padding at its end does not reach those frames (their error reaches
back exactly ``reach`` samples), and starts ``left`` frames early
(:func:`~pwave.sampling.chunking.context_frames_needed`) so that the causal WaveNets' zero
padding and the smoothing's padding at its start are forgotten. At the end of the stream the
last window ends where the utterance does, with the same edge padding as offline.

:func:`lookahead_frames` is the smallest look-ahead that is exact for every model: with one
frame less, the last emitted samples read the replicate padding (tested).

Noise: the offline pass of ``F`` frames reads ``noise[: F * hop]``. Without a noise tensor,
:class:`FrameNoise` draws it one frame (``hop`` samples) at a time from one seeded generator;
:func:`frame_noise` gives the same noise for the offline pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import Tensor

from pwave.models.student import Student
from pwave.sampling.chunking import context_frames_needed, upsampler_reach

#: ``run(model_input [n_mels, W + 2 ctx], noise [W * hop]) -> audio [W * hop]``.
RunWindow = Callable[[Tensor, Tensor], Tensor]


def lookahead_frames(model: Student) -> int:
    """Mel frames past the last final frame that a streamed chunk must wait for:
    ``mel_context_frames + ceil(upsampler_reach / hop)``."""
    hop = model.features.hop_length
    reach = upsampler_reach(model.config.upsample_factors)
    return int(model.config.mel_context_frames) + math.ceil(reach / hop)


class FrameNoise:
    """Base noise drawn ``hop`` samples (one frame) at a time from one seeded generator.

    ``take(frames) -> [frames * hop]`` continues where the last call stopped, so the noise of
    a stream does not depend on its chunking; :func:`frame_noise` is the same noise at once.
    """

    def __init__(self, base, hop: int, seed: int, temperature: float = 1.0):
        self.base, self.hop, self.temperature = base, hop, temperature
        self.generator = torch.Generator().manual_seed(int(seed))

    def take(self, frames: int) -> Tensor:
        gen, temp = self.generator, self.temperature
        parts = [self.base.sample(1, (self.hop,), generator=gen, temperature=temp)[0]
                 for _ in range(frames)]  # fmt: skip
        return torch.cat(parts) if parts else torch.empty(0)


def frame_noise(base, hop: int, frames: int, seed: int, temperature: float = 1.0) -> Tensor:
    """``[frames * hop]``: the noise a stream with ``seed`` uses for ``frames`` frames."""
    return FrameNoise(base, hop, seed, temperature).take(frames)


class MelStream:
    """Exact incremental synthesis of one utterance (see the module docstring).

    Args:
        run: the model on one window (:data:`RunWindow`).
        hop, context: the model's hop and ``mel_context_frames``.
        left: frames of history a window starts early (``context_frames_needed(model)[0]``).
        lookahead: :func:`lookahead_frames` (smaller is not exact).
        noise: a tensor holding at least the utterance's noise, or a :class:`FrameNoise`.

    ``push(mel [n_mels, k])`` (model-normalised frames) returns the audio that became final
    (``[j * hop]``, possibly empty); ``finish()`` returns the rest.
    """

    def __init__(
        self,
        run: RunWindow,
        hop: int,
        context: int,
        left: int,
        lookahead: int,
        noise: Tensor | FrameNoise,
    ):
        self.run, self.hop, self.ctx = run, hop, context
        self.left, self.lookahead = left, lookahead
        self.noise_source = noise
        self.frames: Tensor | None = None  # the frames kept, from absolute index `offset`
        self.offset = 0  # absolute index of self.frames[:, 0]
        self.received = 0
        self.done = 0  # frames whose audio was emitted
        self.noise: Tensor | None = None  # noise of frames [noise_offset, received)
        self.noise_offset = 0

    def _append_noise(self, frames: int) -> None:
        have = 0 if self.noise is None else self.noise.shape[0] // self.hop
        start = self.noise_offset + have
        if isinstance(self.noise_source, FrameNoise):
            new = self.noise_source.take(frames)
        else:
            new = self.noise_source[start * self.hop : (start + frames) * self.hop]
            if new.shape[0] != frames * self.hop:
                raise ValueError(f"the noise ends before frame {start + frames}")
        self.noise = new if self.noise is None else torch.cat([self.noise, new])

    def push(self, mel: Tensor) -> Tensor:
        """Add frames ``[n_mels, k]``; the audio of the frames that became final."""
        if mel.dim() != 2:
            raise ValueError(f"a mel chunk must be [n_mels, frames], got {tuple(mel.shape)}")
        if mel.shape[1] == 0:
            return torch.empty(0)
        self.frames = mel if self.frames is None else torch.cat([self.frames, mel], dim=1)
        self._append_noise(mel.shape[1])
        self.received += mel.shape[1]
        return self._emit(self.received - self.lookahead, final=False)

    def finish(self) -> Tensor:
        """The audio of the frames still held back (the utterance ended)."""
        if self.received == 0:
            return torch.empty(0)
        return self._emit(self.received, final=True)

    def _frame_range(self, a: int, b: int) -> Tensor:
        """Frames ``[a, b)`` (absolute), edge-replicated outside ``[0, received)``."""
        idx = torch.arange(a, b).clamp(0, self.received - 1) - self.offset
        if int(idx.min()) < 0:
            raise RuntimeError("a window reaches frames that were already dropped")
        return self.frames[:, idx]

    def _emit(self, upto: int, final: bool) -> Tensor:
        """Audio of frames ``[done, upto)`` from one window; drops frames no longer needed."""
        if upto <= self.done:
            return torch.empty(0)
        w0 = max(0, self.done - self.left)
        w1 = self.received if final else upto + self.lookahead - self.ctx
        model_input = self._frame_range(w0 - self.ctx, w1 + self.ctx)
        n0 = (w0 - self.noise_offset) * self.hop
        z = self.noise[n0 : n0 + (w1 - w0) * self.hop]
        audio = self.run(model_input, z)
        out = audio[(self.done - w0) * self.hop : (upto - w0) * self.hop]
        self.done = upto
        self._forget(self.done - self.left)
        return out

    def _forget(self, first_needed: int) -> None:
        """Drop the mel frames before ``first_needed - ctx`` and the noise before it."""
        keep_mel = max(0, first_needed - self.ctx)
        if keep_mel > self.offset:
            self.frames = self.frames[:, keep_mel - self.offset :]
            self.offset = keep_mel
        keep_noise = max(0, first_needed)
        if keep_noise > self.noise_offset:
            self.noise = self.noise[(keep_noise - self.noise_offset) * self.hop :]
            self.noise_offset = keep_noise


def stream_student(
    model: Student,
    run: RunWindow,
    chunks: Iterable[Tensor],
    noise: Tensor | FrameNoise,
    lookahead: int | None = None,
) -> Iterator[Tensor]:
    """Audio chunks of ``model`` for model-normalised mel ``chunks`` (each ``[n_mels, k]``);
    the concatenation equals ``run(pad_context(all frames, ctx), noise[: F * hop])``."""
    if not isinstance(model, Student):
        raise ValueError(
            "streaming needs a student: the teacher samples one step at a time over the whole "
            "utterance (use vocode_mel)"
        )
    stream = MelStream(
        run,
        model.features.hop_length,
        int(model.config.mel_context_frames),
        context_frames_needed(model)[0],
        lookahead_frames(model) if lookahead is None else lookahead,
        noise,
    )
    for chunk in chunks:
        out = stream.push(chunk)
        if out.numel():
            yield out
    out = stream.finish()
    if out.numel():
        yield out
