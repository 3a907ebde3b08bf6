"""Applications built on the library: the benchmark, the demo pipeline and the 2-D toy."""
