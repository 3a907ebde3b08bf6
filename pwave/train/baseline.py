"""The linear-prediction baseline the teacher has to beat (re-exported).

The order-32 Gaussian autoregressive model lives in :mod:`pwave.models.lpc`, below both
training (which scores it next to the teacher at validation) and ``pwave score`` (which uses
it as the background model of its likelihood ratio); this module keeps the old import path.
"""

from __future__ import annotations

from pwave.models.lpc import LPCBaseline, fit_lpc

__all__ = ["LPCBaseline", "fit_lpc"]
