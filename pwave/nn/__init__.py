"""Network blocks: the WaveNet conditioner (parallel and one-sample-at-a-time) and the mel
upsampler."""

from pwave.nn.incremental import IncrementalWaveNet
from pwave.nn.upsampler import MelUpsampler, check_upsample_factors
from pwave.nn.wavenet import WaveNet, shift_right

__all__ = ["IncrementalWaveNet", "MelUpsampler", "WaveNet", "check_upsample_factors", "shift_right"]
