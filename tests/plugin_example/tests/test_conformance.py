"""The plugin's own test: meltdyn's conformance kit, as every plugin of its kind must pass it."""

from meltdyn.plugin import check_plugin


def test_maxdisp_conforms(tmp_path):
    check_plugin("observable", "maxdisp", tmp_path)
