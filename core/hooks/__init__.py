"""Layer 2: the plugin system: the data that flows, each kind's contract, definitions, hook specs and the registry."""
