"""Layer 4: the engine kit: stage driver, production, checkpoints and frame schedule shared by every engine."""
