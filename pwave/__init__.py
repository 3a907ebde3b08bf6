"""pwave: Parallel WaveNet for everyday use.

A WaveNet masked-autoregressive-flow teacher trained by maximum likelihood, an
inverse-autoregressive-flow student distilled from it, and the normalizing-flow
core both stand on (:mod:`pwave.flows`).
"""

__version__ = "0.1.0"
