"""Fast samplers: the fused time-major student and teacher step, the CUDA-graph teacher
sampler and exact chunking of long utterances."""
