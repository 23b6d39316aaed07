"""Layer 9: the command line: dispatch, meltdyn's own commands and the study-file reference."""
