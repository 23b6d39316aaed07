"""The ``meltdyn`` command line: run, validate, results, plot, analyse, train, plugins, schema."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from meltdyn.analysis import AnalysisCost
from meltdyn.errors import StudyError
from meltdyn.plots import plot_results
from meltdyn.reference import reference_markdown
from meltdyn.registry import PluginError, discover
from meltdyn.specs import study_model
from meltdyn.standalone import analyse_trajectory
from meltdyn.study import load_study

DESCRIPTION = """\
meltdyn runs a study: build Na2O-SiO2 melts, simulate them with a potential and an engine, and
analyse the production trajectory with observables, for every composition x temperature x replica
of the sweep. Runs go to OUTPUT_DIR/<run id>/ and a second 'meltdyn run' skips finished runs and
continues unfinished ones from their last checkpoint.
"""


def _cmd_run(args: argparse.Namespace) -> int:
    study = load_study(args.study, output_dir=args.output_dir)
    runs = study.run(progress=False if args.quiet else None, only=args.only)
    for run in runs:
        print(f"{run.id}: {run.status['state']}  ({run.dir})")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    study = load_study(args.study, output_dir=args.output_dir)
    print(f"{args.study}: valid study {study.spec.name!r} with {len(study.runs)} run(s):")
    for run in study.runs:
        print(f"  {run.id}: {run.status['state']}")
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    registry = discover()
    rows = [(e.name, e.kind, e.version, e.distribution, e.definition.summary) for e in registry.all_entries()]
    if args.json:
        print(json.dumps({"plugins": [dict(zip(("name", "kind", "version", "distribution", "summary"), r)) for r in rows],
                          "problems": [str(p) for p in registry.problems]}, indent=2))
    else:
        widths = [max(len(str(r[i])) for r in rows + [("name", "kind", "version", "distribution", "")]) for i in range(4)]
        header = ("name", "kind", "version", "distribution", "summary")
        for row in [header, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4])
        for problem in registry.problems:
            print(f"error: {problem}", file=sys.stderr)
    return 1 if registry.problems else 0


def _cmd_schema(args: argparse.Namespace) -> int:
    registry = discover()
    if args.markdown:
        print(reference_markdown(registry), end="")
    else:
        print(json.dumps(study_model(registry).model_json_schema(), indent=2))
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    study = load_study(args.study, output_dir=args.output_dir)
    for run in study.runs:
        if run.completed:
            print(f"{run.id}: {json.dumps({k: v for k, v in run.summary().items() if k != 'arrays'})}")
        else:
            print(f"{run.id}: {run.status['state']}")
    return 0


def _cmd_analyse(args: argparse.Namespace) -> int:
    cost = AnalysisCost()
    results = analyse_trajectory(args.analysis, cost=cost)
    for label, arrays in results.items():
        print(f"{label}: {', '.join(sorted(arrays))}")
    print(f"analysis: {cost.seconds:.1f} s, {cost.block_atoms} atoms per block, peak memory {cost.peak_rss_MB:.0f} MB")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from meltdyn.plugins.potentials.painn_workflow import train_from_spec

    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    print(json.dumps(train_from_spec(args.spec), indent=2))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    study = load_study(args.study, output_dir=args.output_dir)
    plugins = dict(zip(study.spec.observable_labels, (o.plugin for o in study.spec.observables)))
    for run in study.runs:
        if not run.completed:
            print(f"{run.id}: {run.status['state']}, nothing to plot")
            continue
        for path in plot_results(run.results(), plugins, run.dir / "plots", run.id):
            print(path)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="meltdyn", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def study_cmd(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("study", help="study file (YAML)")
        sp.add_argument("--output-dir", help="override the study's output_dir")
        return sp

    sp = study_cmd("run", "run (or continue) every run of a study and analyse it")
    sp.add_argument("--only", nargs="+", metavar="RUN_ID", help="run only these run ids")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=_cmd_run)
    study_cmd("validate", "check a study file, plugin parameters included, without running anything"
              ).set_defaults(func=_cmd_validate)
    study_cmd("results", "print each run's state and summary").set_defaults(func=_cmd_results)
    study_cmd("plot", "draw MSD, F_s, G_s and alpha2 figures (PNG and PDF) into each run's plots/"
              ).set_defaults(func=_cmd_plot)
    sp = sub.add_parser("analyse", help="run observables over an existing trajectory (H5MD, extxyz, LAMMPS dump, DCD)",
                        description="run observables over an existing trajectory (H5MD, extxyz, LAMMPS dump, DCD)")
    sp.add_argument("analysis", help="analysis file (YAML): trajectory, format, observables, output_dir")
    sp.set_defaults(func=_cmd_analyse)
    sp = sub.add_parser("train", help="make reference data and train a PaiNN potential (resumes if interrupted)",
                        description="make reference data and train a PaiNN potential (resumes if interrupted)")
    sp.add_argument("spec", help="training file (YAML): reference_data, model, training, output_dir")
    sp.add_argument("-q", "--quiet", action="store_true", help="no per-state and per-epoch lines")
    sp.set_defaults(func=_cmd_train)
    sp = sub.add_parser("plugins", help="list discovered plugins (name, kind, version, distribution)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=_cmd_plugins)
    sp = sub.add_parser("schema", help="print the JSON Schema of study files for the installed plugins")
    sp.add_argument("--markdown", action="store_true", help="print the study-file reference as Markdown instead")
    sp.set_defaults(func=_cmd_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (StudyError, PluginError) as exc:
        if args.debug:
            raise
        print(f"meltdyn: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("meltdyn: interrupted; run the same command again to continue from the last checkpoint",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
