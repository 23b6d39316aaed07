"""Built-in trajectory observables."""
