"""The plugin's own tests: meltdyn's conformance kit, and the ideal gas, whose g(r) is 1 at every r."""

import numpy as np

from meltdyn.plugin import FrameBatch, TrajectoryInfo, check_plugin, select
from meltdyn_pair_rdf import PairRdf, PairRdfParams


def test_pair_rdf_conforms(tmp_path):
    check_plugin("observable", "pair_rdf", tmp_path)


def test_an_ideal_gas_has_g_of_r_one_within_its_counting_error():
    """Uniform random positions in a triclinic cell: each bin's count is Poisson about the ideal expectation, so
    g(r) − 1 has standard error 1/√expected; all bins within 5σ (a false alarm about 1 in 10⁴ per run)."""
    rng = np.random.default_rng(3)
    symbols = ["Na"] * 60 + ["O"] * 90
    cell = np.array([[15.0, 0.0, 0.0], [3.0, 14.0, 0.0], [1.0, -2.0, 16.0]])
    frames = 40
    x = rng.random((frames, len(symbols), 3)) @ cell
    info = TrajectoryInfo(len(symbols), symbols, np.arange(frames), np.arange(frames) * 0.1, 1, 0.1, cell)
    obs = PairRdf(PairRdfParams(r_max_A=6.0, bins=12))
    obs.prepare(info)
    obs.process(FrameBatch(np.arange(frames), np.arange(frames), np.arange(frames) * 0.1, symbols,
                           np.broadcast_to(cell, (frames, 3, 3)), x))
    results = obs.conclude()
    shells = 4 / 3 * np.pi * np.diff(np.linspace(0, 6.0, 13) ** 3)
    volume = abs(np.linalg.det(cell))
    for pair, pairs_per_frame in (("Na-Na", 60 * 59 / 2), ("Na-O", 60 * 90), ("O-O", 90 * 89 / 2)):
        expected = frames * pairs_per_frame / volume * shells
        z = (select(results, "g", pair=pair) - 1) * np.sqrt(expected)
        assert np.all(np.abs(z) < 5), (pair, z)
