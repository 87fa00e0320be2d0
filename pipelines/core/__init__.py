"""The selective core: clip assembly, the drift detector and its segment statistic, the sans-I/O
selective pipeline and its domain caption, the vlm decoder's budget, and the runner that joins
them to capture and the outputs, with the observers that attach to a run."""
