"""Layer 6: studies: the registry-built study model, locks, preflight, the runner and the study monitor."""
