"""Layer 0: small shared utilities (units, elements, errors, seeds, storage, ownership, JSON state files, progress)."""
