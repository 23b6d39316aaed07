"""meltdyn's built-in plugins. They register through the ``meltdyn`` entry-point group like any other."""
