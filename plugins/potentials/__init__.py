"""Built-in interatomic potentials."""
