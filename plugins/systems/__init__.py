"""Built-in system builders: where each run's starting configuration comes from."""
