"""The public face for plugin authors: everything a plugin imports from meltdyn, and nothing else.

A plugin (ours under ``meltdyn.plugins`` or a third party's) imports only this module, its own package and other
plugins' ``interface`` modules; ``tests/test_architecture.py`` enforces it. The layers behind it (``meltdyn.base``,
``meltdyn.hooks``, ``meltdyn.engine``, ...) are internal and may move between releases; these names stay.
"""

from meltdyn.base import elements

# Hook specs and plugin definitions
from meltdyn.hooks.hookspecs import hookimpl
from meltdyn.hooks.definitions import PLUGIN_KINDS, Command, Interface, PluginDef, PluginKind, PluginParams
from meltdyn.hooks.registry import Registry, discover
from meltdyn.hooks.sections import plugin_union, validate_section

# Each kind's contract and the data that flows
from meltdyn.hooks.contracts import (
    BaseObservable, Engine, Executor, FrameObservable, Labeller, Observable, Potential, Reporter, RunContext,
    RunHandle, StudyHandle, SystemBuilder,
)
from meltdyn.hooks.labelled import MAX_STRESS_EV_A3, check_labelled, checked_frame, voigt_to_matrix
from meltdyn.hooks.calculators import calculator_class
from meltdyn.hooks.data import (
    AtomBlock, AtomicSystem, ExecutorOutline, FrameBatch, FrameCheck, LabelledFrame, PotentialOutline, Reported,
    ResultArray, RunOutline, StudyOutline, Summary, SystemOutline, TrajectoryInfo, Trend, min_width_A,
)

# Study-file models an engine reads
from meltdyn.spec.models import (
    Dynamics, MinimiseStage, NPTStage, NVEStage, NVTStage, ProductionStage, ProtocolSpec, RampStage, SamplingSpec, Spec,
    Stage, stage_dynamics,
)
from meltdyn.spec.studyfile import read_study_file

# The engine kit
from meltdyn.engine.kit import EngineSettings, Lane, LaneStart, SimulationBlewUp, StageMachine
from meltdyn.engine.stage_driver import drive
from meltdyn.engine.trust import TRUST_STOP, LeftTrustRegion
from meltdyn.trajectory.h5md import Snapshot, read_frame
from meltdyn.trajectory.readers import check_xyz_counts, is_xyz

# Lag helpers, estimates, the state point and summaries, for observables and reports
from meltdyn.analysis.axes import tidy_axes
from meltdyn.analysis.lags import (
    BOOTSTRAP_BLOCKS, LagPlan, LagSample, bootstrap_bytes, bootstrap_replicates, bootstrap_std, independent_blocks,
    largest_sample, merge_blocks, origin_blocks, plan_lags, sample_lags, samples_bytes,
)
from meltdyn.analysis.estimates import Estimate, estimate_arrays, estimates_from_arrays
from meltdyn.analysis.neighbours import Pairs, pairs_bytes, pairs_within
from meltdyn.analysis.pair_histogram import BACKEND as PAIR_BACKEND, pair_histogram, pair_histogram_bytes
from meltdyn.analysis.relaxation import RELAXED_A, EndFrames, annotate, frozen_note
from meltdyn.analysis.peaks import peak, resampled_peaks
from meltdyn.analysis.state_point import STATE_POINT, from_summary, kinetic_temperature_K, reached_text
from meltdyn.analysis.dimensions import (
    coordinate, coordinates, estimate_at, estimates_of, select, species_coordinate,
)
from meltdyn.analysis.summaries import Quantity, flags, label_text, quantities, summary_entry

# Studies, for commands and executors' workers
from meltdyn.study.runner import load_study

# Units, elements, errors, seeds and the files meltdyn owns
from meltdyn.base.units import (
    A_TO_NM, AVOGADRO, BAR_TO_EV_A3, BOLTZMANN_EV_K, COULOMB_EV_A, EV_A3_TO_GPA, EV_TO_KJ_MOL, KJ_MOL_TO_EV, NM_TO_A,
    U_A2_PS2_TO_EV,
)
from meltdyn.base.cores import StudyWarning, available_cores, default_threads, warn_if_oversubscribed
from meltdyn.base.errors import InputError, StudyError, invalid
from meltdyn.base.seeds import SeedBook, derive_seed
from meltdyn.base.progress import Progress
from meltdyn.base.jsonio import write_json_atomic
from meltdyn.base.ownership import claim, inside, kind_of, usable
from meltdyn.base.fingerprint import fingerprint, package_versions

# The conformance kit every plugin runs
from meltdyn.testing import (
    check_engine, check_executor, check_labeller, check_observable, check_plugin, check_potential, check_system,
    probe_system, write_labelled_frames,
)

__all__ = [
    "AVOGADRO", "A_TO_NM", "AtomBlock", "AtomicSystem", "BAR_TO_EV_A3", "BOLTZMANN_EV_K", "BOOTSTRAP_BLOCKS",
    "BaseObservable", "COULOMB_EV_A", "Command", "Dynamics", "EV_A3_TO_GPA", "EV_TO_KJ_MOL", "EndFrames", "Engine",
    "EngineSettings", "Estimate", "Executor", "ExecutorOutline", "FrameBatch", "FrameCheck", "FrameObservable",
    "InputError", "Interface", "KJ_MOL_TO_EV", "LabelledFrame", "Labeller", "LagPlan", "LagSample", "Lane",
    "LaneStart", "LeftTrustRegion",
    "MAX_STRESS_EV_A3", "MinimiseStage", "NM_TO_A", "NPTStage", "NVEStage", "NVTStage", "Observable",
    "PAIR_BACKEND", "PLUGIN_KINDS", "Pairs", "PluginDef", "PluginKind", "PluginParams", "Potential",
    "PotentialOutline", "ProductionStage", "Progress", "ProtocolSpec", "Quantity", "RELAXED_A", "RampStage",
    "Registry", "Reported", "Reporter", "ResultArray", "RunContext", "RunHandle", "RunOutline", "STATE_POINT",
    "SamplingSpec", "SeedBook", "SimulationBlewUp", "Snapshot", "Spec", "Stage", "StageMachine", "StudyError",
    "StudyHandle", "StudyOutline", "StudyWarning", "Summary", "SystemBuilder", "SystemOutline", "TRUST_STOP",
    "TrajectoryInfo",
    "Trend", "U_A2_PS2_TO_EV", "annotate", "available_cores", "bootstrap_bytes", "bootstrap_replicates",
    "bootstrap_std", "calculator_class", "check_engine", "check_executor", "check_labelled", "check_labeller",
    "check_observable", "check_plugin", "check_potential", "check_system", "check_xyz_counts", "checked_frame",
    "claim", "coordinate", "coordinates", "default_threads", "derive_seed", "discover", "drive", "elements",
    "estimate_arrays", "estimate_at", "estimates_from_arrays", "estimates_of", "fingerprint", "flags",
    "from_summary", "frozen_note", "hookimpl", "independent_blocks", "inside", "invalid", "is_xyz", "kind_of",
    "kinetic_temperature_K", "label_text", "largest_sample", "load_study", "merge_blocks", "min_width_A",
    "origin_blocks", "package_versions", "pair_histogram", "pair_histogram_bytes", "pairs_bytes", "pairs_within",
    "peak", "plan_lags", "plugin_union", "probe_system", "quantities", "reached_text", "read_frame",
    "read_study_file", "resampled_peaks", "sample_lags", "samples_bytes", "select", "species_coordinate",
    "stage_dynamics", "summary_entry", "tidy_axes", "usable", "validate_section", "voigt_to_matrix",
    "warn_if_oversubscribed", "write_json_atomic", "write_labelled_frames",
]
