"""Built-in reference-data labellers: where training frames and their energies, forces and stresses come from."""
