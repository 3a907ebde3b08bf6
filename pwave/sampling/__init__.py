"""Fast samplers, each checked against the models' reference paths:

* :mod:`pwave.sampling.fused`: a WaveNet's weights with its constants folded in, and the fused
  gated activation;
* :mod:`pwave.sampling.time_major`: the time-major parallel pass and the one-pass student
  sampler :class:`~pwave.sampling.time_major.FastStudentSampler`;
* :mod:`pwave.sampling.cuda_graph`: the static-buffer cached teacher step, replayed as a CUDA
  graph;
* :mod:`pwave.sampling.chunking`: exact chunking of long utterances.
"""
