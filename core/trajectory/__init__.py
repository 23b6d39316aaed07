"""Layer 3: trajectories: meltdyn's H5MD, foreign readers, conversion and the MDAnalysis bridge."""
