"""Layer 1: the static study-file models (protocol, stages, sweep, analysis settings) and reading study files."""
