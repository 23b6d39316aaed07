"""meltdyn report: a study's runs aggregated into tables, fits, figures and one HTML page a colleague can open."""

from __future__ import annotations

import copy
import csv
import json
import math
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
import yaml

import meltdyn
from meltdyn.analysis.estimates import Estimate
from meltdyn.base.units import BOLTZMANN_EV_K
from meltdyn.plugin import estimate_at
from meltdyn.plugins.commands.report.aggregate import StatePoint, arrhenius, combine, fit_points
from conftest import MELTDYN, TINY_STUDY

pytestmark = pytest.mark.slow  # every test shares a module fixture that runs a study (~20 s)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.headings: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self._in_heading = tag in ("h1", "h2")

    def handle_data(self, data):
        if self._in_heading:
            self.headings.append(data.strip())
            self._in_heading = False


def test_arrhenius_recovers_an_activation_energy_and_its_uncertainty():
    rng = np.random.default_rng(0)
    ea, d0 = 0.8, 50.0  # eV, Å²/ps
    temperatures = [1800.0, 2100.0, 2400.0, 2700.0]
    exact = [d0 * np.exp(-ea / (BOLTZMANN_EV_K * t)) for t in temperatures]
    fit = arrhenius(temperatures, exact, [0.02 * d for d in exact])
    assert fit.activation_eV == pytest.approx(ea, rel=1e-9) and fit.prefactor == pytest.approx(d0, rel=1e-9)
    np.testing.assert_allclose(fit.at(temperatures), exact, rtol=1e-9)  # the curve the figure draws
    noisy = [d * (1 + 0.02 * rng.normal()) for d in exact]
    fit = arrhenius(temperatures, noisy, [0.02 * d for d in exact])
    assert abs(fit.activation_eV - ea) < 3 * fit.activation_sigma_eV < 0.2
    assert arrhenius([2000.0], [1.0], [0.1]) is None


def test_arrhenius_without_error_bars_takes_its_uncertainty_from_the_scatter():
    """One replica per temperature: the slope's standard error is ordinary least squares' (scipy's linregress as
    the oracle), so it grows with the scatter instead of being one number for every fit."""
    from scipy.stats import linregress

    temperatures = np.array([1000.0, 1250.0, 1500.0, 1750.0])
    x = 1 / (BOLTZMANN_EV_K * temperatures)
    for scatter in (0.02, 0.2):
        y = 5.0 * np.exp(-0.5 * x) * np.exp(scatter * np.array([1.0, -1.0, -1.0, 1.0]))
        fit = arrhenius(list(temperatures), list(y), [float("nan")] * 4)
        reference = linregress(x, np.log(y))
        assert fit.activation_eV == pytest.approx(-reference.slope, rel=1e-9)
        assert fit.activation_sigma_eV == pytest.approx(reference.stderr, rel=1e-9)
    assert math.isnan(arrhenius([1000.0, 2000.0], [1.0, 2.0], [float("nan")] * 2).activation_sigma_eV)


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """Two temperatures, two replicas, the dynamical and structural observables; one run left unfinished on
    purpose."""
    root = tmp_path_factory.mktemp("report")
    study = {**copy.deepcopy(TINY_STUDY), "output_dir": str(root / "out")}
    study["sweep"] = {"compositions": ["NS2"], "temperatures_K": [2600.0, 3200.0], "replicas": 2}
    study["protocol"]["stages"][-1]["duration_ps"] = 0.4
    study["observables"] = [{"plugin": "msd"}, {"plugin": "isf", "q_per_A": [1.7, 2.8]},
                            {"plugin": "van_hove", "lags_ps": [0.1, 0.3]}, {"plugin": "alpha2"},
                            {"plugin": "structure", "r_max_A": 6.0, "max_frames": 20}, {"plugin": "chi4"},
                            {"plugin": "mobility", "fraction": 0.2, "max_origins": 4}]
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    loaded = meltdyn.load_study(path)
    loaded.run(progress=False, only=[r.id for r in loaded.runs][:3])
    out = subprocess.run([*MELTDYN, "report", str(path)], capture_output=True, text=True, check=True)
    return root / "out" / "report", out.stdout


def test_the_report_lists_missing_runs_and_writes_tables(reported):
    report, stdout = reported
    assert "3 of 4 runs; missing: NS2_T3200K_r1" in stdout
    table = json.loads((report / "table.json").read_text())
    assert [m["run"] for m in table["runs_missing"]] == ["NS2_T3200K_r1"]
    rows = list(csv.DictReader(open(report / "table.csv")))
    d_na = {float(r["temperature_K"]): r for r in rows if r["quantity"] == "msd.D[species=Na]"}
    assert d_na[2600.0]["unit"] == "angstrom^2/ps" and d_na[2600.0]["replicas"] == "2"
    assert d_na[3200.0]["replicas"] == "1" and d_na[3200.0]["of_replicas"] == "1"
    study = meltdyn.load_study(report.parent.parent / "study.yaml")
    (alone,) = [r for r in study.runs if r.temperature_K == 3200.0 and r.completed]
    own = estimate_at(alone.results()["msd"], "D", species="Na")
    # One replica: the run's own value and standard error, not a missing one.
    assert float(d_na[3200.0]["mean"]) == pytest.approx(own.value, rel=1e-12)
    assert float(d_na[3200.0]["sem"] or "nan") == pytest.approx(own.stderr, rel=1e-12, nan_ok=True)
    reached = Estimate.from_json(alone.summary()["state_point"]["temperature_K"])
    assert float(d_na[3200.0]["achieved_temperature_K"]) == pytest.approx(reached.value, rel=1e-12)
    assert "D_Na/D_O" in {r["quantity"] for r in rows}
    assert "isf.tau_alpha[species=Na, q=2.8]" in {r["quantity"] for r in rows}
    # Every entry of a quantity declared a rate or a time is fitted: D as it is, τ_α through its inverse.
    fitted = set(table["arrhenius"]["NS2"])
    assert fitted >= {f"msd.D[species={s}]" for s in ("Na", "O", "Si")}
    assert {k for k in fitted if k.startswith("1/isf.tau_alpha[")} and not {k for k in fitted if "alpha2" in k}
    assert "msd D Na (Å²/ps)" in table["headline"]["columns"]


def test_the_report_mean_is_the_mean_of_the_runs(reported):
    report, _ = reported
    study = meltdyn.load_study(report.parent.parent / "study.yaml")
    runs = [r for r in study.runs if r.temperature_K == 2600.0]
    expected = np.mean([estimate_at(r.results()["msd"], "D", species="Na").value for r in runs])
    rows = list(csv.DictReader(open(report / "table.csv")))
    (row,) = [r for r in rows if r["quantity"] == "msd.D[species=Na]" and float(r["temperature_K"]) == 2600.0]
    assert float(row["mean"]) == pytest.approx(expected, rel=1e-12)


def test_the_html_is_one_self_contained_page_with_its_figures(reported):
    report, _ = reported
    page = _Page()
    page.feed((report / "report.html").read_text())
    assert {"State points", "Arrhenius fits", "Figures", "Runs missing"} <= set(page.headings)
    assert len(page.images) >= 4 and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert all(len(src) > 5000 for src in page.images)  # not empty pictures
    for name in ("msd_D", "isf_tau_alpha", "decoupling", "alpha2_peak_height", "van_hove_Na", "structure_S_neutron",
                 "chi4_O", "structure_first_shell_coordination", "structure_g_Si_O", "structure_g_Na_O",
                 "mobility_cluster_sizes"):
        for fmt in ("png", "pdf"):
            assert (report / f"{name}.{fmt}").stat().st_size > 3000


def test_a_mean_over_some_replicas_says_so():
    """A quantity one replica could not give leaves a result over the others: the table says how many."""
    from meltdyn.plugins.commands.report.build import point_cell

    none = Estimate.undefined("no second peak significant")
    point = StatePoint("NS2", 2000.0, replicas=2)
    point.values["isf.tau_alpha[species=Si, q=1.7]"] = [Estimate(28.2, 1.0), Estimate.undefined("F_s not finite")]
    point.values["msd.D[species=Na]"] = [Estimate(1.0), Estimate(3.0)]
    point.values["van_hove.hopping_fraction[hop_species=Na]"] = [none, none]
    point.values["isf.tau_alpha[species=O, q=2.8]"] = [Estimate.upper(0.1, "below the first lag")] * 2
    assert point_cell(point, "isf.tau_alpha[species=Si, q=1.7]") == "28.2 ± 1 (1 of 2)"
    assert point_cell(point, "msd.D[species=Na]") == "2 ± 1"
    assert point_cell(point, "van_hove.hopping_fraction[hop_species=Na]") == "–"
    assert point_cell(point, "isf.tau_alpha[species=O, q=2.8]") == "< 0.1"  # a bound is never shown as a value


def test_replicas_combine_into_a_mean_with_the_larger_of_scatter_and_their_own_errors():
    agree = combine([Estimate(1.0, 0.3), Estimate(1.0, 0.4)])  # no scatter: the propagated error, 0.25
    assert agree.value == pytest.approx(1.0) and agree.stderr == pytest.approx(0.25)
    scatter = combine([Estimate(1.0, 0.01), Estimate(3.0, 0.01)])  # scatter s/sqrt(n) = 1 dominates
    assert scatter.value == pytest.approx(2.0) and scatter.stderr == pytest.approx(1.0)
    # A value and a lower bound: the mean lies above their mean, so it is a lower bound, never a value.
    mixed = combine([Estimate(40.0, 2.0), Estimate.lower(50.0, "F_s above 1/e at the last lag")])
    assert mixed.kind == "lower_bound" and mixed.bound == pytest.approx(45.0) and not mixed.is_value
    assert combine([Estimate.lower(5.0, "x"), Estimate.upper(1.0, "y")]).kind == "undefined"


def test_fits_use_the_reached_temperature_and_leave_out_bounds_and_partial_means():
    """D is Arrhenius at the temperatures the runs had: placed at their targets instead, the fit would return a
    wrong activation energy. Points whose value is a bound or covers only some replicas are left out, saying so."""
    ea, d0 = 0.6, 40.0
    reached = [1900.0, 2150.0, 2500.0, 2700.0]
    points = []
    for target, t in zip([2000.0, 2200.0, 2400.0, 2600.0], reached):
        p = StatePoint("NS2", target, replicas=2)
        d = d0 * np.exp(-ea / (BOLTZMANN_EV_K * t))
        p.values["msd.D[species=Na]"] = [Estimate(d, 0.01 * d)] * 2
        p.achieved = [Estimate(t, 5.0)] * 2
        points.append(p)
    fit = arrhenius(*fit_points(points, "msd.D[species=Na]"))
    assert fit.activation_eV == pytest.approx(ea, rel=1e-6) and fit.points == 4
    points[0].values["msd.D[species=Na]"] = [Estimate(1.0, 0.1), Estimate.undefined("too few lags")]
    points[1].values["msd.D[species=Na]"] = [Estimate.lower(2.0, "x")] * 2
    temps, _, _, note = fit_points(points, "msd.D[species=Na]")
    assert temps == reached[2:] and "2000 K (not every replica)" in note and "2200 K (bound)" in note
    two = arrhenius(*fit_points(points, "msd.D[species=Na]"))
    assert two.points == 2 and math.isnan(two.activation_sigma_eV) and "no uncertainty" in two.note
