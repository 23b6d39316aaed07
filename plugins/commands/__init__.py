"""Plugins that add ``meltdyn`` sub-commands."""
