"""meltdyn's own commands. They register through the ``meltdyn_commands`` hook and an entry point, exactly as a
plugin's commands do; the command line only dispatches (:mod:`meltdyn.cli`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from meltdyn.analysis.estimates import Estimate
from meltdyn.analysis.state_point import STATE_POINT
from meltdyn.analysis.streaming import AnalysisCost
from meltdyn.analysis.summaries import flags, quantities
from meltdyn.hooks.definitions import Command
from meltdyn.hooks.hookspecs import hookimpl
from meltdyn.hooks.registry import discover


def _study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file (YAML)")
    parser.add_argument("--output-dir", help="override the study's output_dir")


def _validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study, analysis or training file (YAML)")
    parser.add_argument("--output-dir", help="override the file's output_dir")


def _study_or_analysis_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file or analysis file (YAML)")
    parser.add_argument("--output-dir", help="override the file's output_dir")


def _analysis_spec(args: argparse.Namespace) -> Any:
    """The analysis spec when ``args.study`` is an analysis file (it names a ``trajectory`` and has no ``sweep``),
    else None: `results` and `plot` take either."""
    from meltdyn.analysis.standalone import load_analysis
    from meltdyn.spec.studyfile import read_study_file

    data = read_study_file(args.study, "study or analysis file")
    if not (isinstance(data, dict) and "trajectory" in data and "sweep" not in data):
        return None
    if args.output_dir:
        data["output_dir"] = args.output_dir
    return load_analysis(data, getattr(args, "registry", None), folder=Path(args.study).parent)


def _analysis_output(spec: Any) -> Path:
    """An analysis' output_dir, refused by name when it holds no analysis yet."""
    from meltdyn.base.errors import StudyError

    out = Path(spec.output_dir)
    if not (out / "summary.json").is_file():
        raise StudyError(f"output_dir: {str(out)!r} holds no analysis (no summary.json); run `meltdyn analyse` on "
                         "the analysis file first")
    return out


def _load(args: argparse.Namespace):  # noqa: ANN202 - a Study
    from meltdyn.study.runner import load_study

    return load_study(args.study, registry=getattr(args, "registry", None), output_dir=args.output_dir)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    _study_arguments(parser)
    parser.add_argument("--only", nargs="+", metavar="RUN_ID", help="run only these run ids")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress reports")
    parser.add_argument("--reanalyse", action="store_true",
                        help="analyse completed runs again from their trajectories (no MD); the previous results "
                        "move to the run's superseded/ directory")


def _run(args: argparse.Namespace) -> int:
    study = _load(args)
    if args.reanalyse:
        runs, skipped = study.reanalyse(only=args.only)
        for line in skipped:
            print(line, file=sys.stderr)
        for run in runs:
            print(f"{run.id}: reanalysed  ({run.dir})")
        failed = [line for line in skipped if "reanalysis failed" in line]
        if failed:
            print(f"meltdyn: error: {len(failed)} reanalysis(es) failed (above)", file=sys.stderr)
            return 2
        return 0
    runs = study.run(progress=False if args.quiet else None, only=args.only)
    for run in runs:
        print(f"{run.id}: {run.status['state']}  ({run.dir})")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from meltdyn.engine.schedule import protocol_cost
    from meltdyn.spec.studyfile import read_study_file

    data = read_study_file(args.study, "study, analysis or training file")
    if "sweep" not in data and not _study_keys(data):  # an analysis file, or a file a plugin's command reads
        return _validate_other(args, data)
    study = _load(args)
    print(f"{args.study}: valid study {study.spec.name!r} with {len(study.runs)} run(s):")
    systems = {r.id: r.system for r in study.outline.runs}
    conflicts = []
    for run in study.runs:
        changes = run.directory.changes(run.resolved_spec())
        if changes:
            conflicts.append(run.id)
            print(f"  {run.id}: made from a different spec ({'; '.join(changes)})")
        else:
            system = systems[run.id]
            cost = protocol_cost(study.spec.protocol, system.n_atoms)
            print(f"  {run.id}: {run.status['state']}; starts as {system.describe()}; {cost}")
    if conflicts:
        print(f"meltdyn: error: `meltdyn run` would refuse {len(conflicts)} run(s) whose directory holds a run of "
              f"another spec: {', '.join(conflicts)}. meltdyn never overwrites a run: give another output_dir for "
              "the changed study (its other runs start afresh there), or move those directories away yourself. "
              "More temperatures, compositions or replicas add runs beside the finished ones.", file=sys.stderr)
        return 2
    return 0


def _study_keys(data: dict[str, Any]) -> bool:
    """Whether a file without a sweep still reads as a study meant (its sections there): it is then validated as a
    study, whose errors name what is missing or misspelt."""
    return bool({"system", "protocol", "engine", "potential"} & set(data)) and "reference_data" not in data


def _validate_other(args: argparse.Namespace, data: dict[str, Any]) -> int:
    from meltdyn.analysis.standalone import trajectory_file
    from meltdyn.base.errors import StudyError

    if "trajectory" in data:
        spec, _ = _analysis_spec(args)
        trajectory_file(spec, args.study)
        print(f"{args.study}: valid analysis file: {len(spec.observables)} observable(s) over {spec.trajectory}")
        return 0
    registry = getattr(args, "registry", None) or discover()
    if args.output_dir:
        data = {**data, "output_dir": args.output_dir}
    for name in sorted(registry.commands):
        check = registry.commands[name].command.check
        line = check(data, Path(args.study), registry) if check is not None else None
        if line is not None:
            print(line)
            return 0
    commands = ", ".join(f"meltdyn {n}" for n in sorted(registry.commands) if registry.commands[n].command.check)
    raise StudyError(f"{args.study}: neither a study (it has no sweep), nor an analysis file (no trajectory), nor a "
                     f"file of {commands or 'a command'} (a training file names reference_data, a learning file "
                     "initial_data); see "
                     "docs/reference/study-file.md")


def _results_arguments(parser: argparse.ArgumentParser) -> None:
    _study_or_analysis_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per line: run, state, summary")


def _summary_rows(summary: dict[str, Any]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(quantity, value, unit) for each scalar of a summary (a bound as a bound, a missing number as n/a), then its
    notes: the reason for each bound or missing number, and the flags."""
    rows, notes, said = [], [], set()
    for q in quantities(summary):
        if q.observable == STATE_POINT:
            continue  # on the state point's own line, its flags below
        # A value with a caution says so on its own row, not only in the notes below the table.
        rows.append((q.key, q.estimate.text(4), q.unit + ("  (see note)" if q.estimate.note else "")))
        if q.estimate.note:
            notes.append(f"{q.observable}: {q.key}: {q.estimate.note}")
            said.add(q.estimate.note)
    # An observable's flag that repeats a quantity's note word for word ("MSD of O: apparent: ...") is said once.
    notes += [f"{label}: {flag}" for label, flag in flags(summary) if flag.split(": ", 1)[-1] not in said]
    return rows, notes


def _print_summary(summary: dict[str, Any]) -> None:
    """The quantities as an aligned table, then the notes."""
    rows, notes = _summary_rows(summary)
    width = max((len(q) for q, _, _ in rows), default=0)
    value_width = max((len(v) for _, v, _ in rows), default=0)
    for quantity, value, unit in rows:
        print(f"  {quantity:<{width}}  {value:>{value_width}}  {unit}")
    for note in notes:
        print(f"  note ({note.split(': ', 1)[0]}): {note.split(': ', 1)[1]}")


def _state_line(summary: dict[str, Any], where: Path, remedy: str) -> str:
    """The state point a trajectory reached, in one line (summaries written before meltdyn recorded it have none);
    one that is not what meltdyn writes is a :class:`StudyError` naming ``where`` (the summary) and ``remedy``."""
    from meltdyn.base.errors import StudyError

    point = summary.get(STATE_POINT)
    if not isinstance(point, dict):
        return "  state point: not measured (analysed before meltdyn recorded it; `meltdyn run --reanalyse`)"
    try:
        t = Estimate.from_json(point["temperature_K"])
        energy = Estimate.from_json(point["potential_energy_eV_per_atom"])
        target = point.get("target_temperature_K")
        aim = f"target {target:g} K; " if target is not None else ""
        return (f"  state point: T = {t.text(4)} K ({aim}from {point['temperature_source']}), E_pot = "
                f"{energy.text(5)} eV/atom, density {point['density_g_cm3']:.4g} g/cm^3")
    except (KeyError, TypeError, ValueError) as exc:
        reason = f"no {exc}" if isinstance(exc, KeyError) else str(exc)[:100]
        raise StudyError(f"{where}: its {STATE_POINT!r} entry is not the one meltdyn writes ({reason}); {remedy}"
                         ) from None


def _results(args: argparse.Namespace) -> int:
    analysis = _analysis_spec(args)
    if analysis is not None:
        from meltdyn.analysis.results import load_results
        from meltdyn.base.jsonio import read_json

        spec, _ = analysis
        out = _analysis_output(spec)
        summary = read_json(out / "summary.json", "the analysis summary")
        load_results(out / "results.h5")  # a damaged results.h5 is named here, as for a run
        if args.json:
            print(json.dumps({"analysis": str(args.study), "trajectory": spec.trajectory, "summary": summary}))
            return 0
        print(f"{spec.trajectory}  analysed  ({out})")
        print(_state_line(summary, out / "summary.json", "analyse the trajectory again into a new output_dir"))
        _print_summary(summary)
        return 0
    study = _load(args)
    for run in study.runs:
        status = run.status
        if args.json:
            summary = run.summary() if run.completed else None
            print(json.dumps({"run": run.id, "state": status["state"], "message": status.get("message"),
                              "summary": summary}))
            continue
        if not run.completed:
            reason = f": {status['message']}" if status.get("message") else ""
            print(f"{run.id}  {status['state']}{reason}\n")
            continue
        summary = run.summary()
        run.results()  # read too, so that a damaged results.h5 is named here, not first met by a later reader
        print(f"{run.id}  completed  ({run.dir})" + (f": {status['message']}" if status.get("message") else ""))
        print(_state_line(summary, run.dir / "summary.json",
                          "restore it, or `meltdyn run --reanalyse` the study to write it again from the run's "
                          "trajectory"))
        _print_summary(summary)
        print()
    return 0


def _plot(args: argparse.Namespace) -> int:
    from meltdyn.base.jsonio import read_json
    from meltdyn.base.ownership import claim, inside
    from meltdyn.analysis.plots import plot_results

    analysis = _analysis_spec(args)
    if analysis is not None:
        from meltdyn.analysis.results import load_results

        spec, registry = analysis
        out = _analysis_output(spec)
        observables = {label: registry.build("observable", o)
                       for label, o in zip(spec.observable_labels, spec.observables)}
        results = load_results(out / "results.h5")
        plots = claim(inside(out, "plots", field="plots", make=False), "plots", field="plots", within=out)
        summary = read_json(out / "summary.json", "the analysis summary")
        for path in plot_results(results, observables, plots, _figure_title(Path(spec.trajectory).name, summary)):
            print(path)
        return 0
    study = _load(args)
    observables = {label: study.registry.build("observable", o)
                   for label, o in zip(study.spec.observable_labels, study.spec.observables)}
    done = []
    for run in study.runs:
        if not run.completed:
            print(f"{run.id}: {run.status['state']}, nothing to plot")
            continue
        # Every run's results read (and refused if damaged) before any figure is drawn or directory made.
        done.append((run, run.results(), run.summary()))
    for run, results, summary in done:
        field = f"plots (run {run.id})"
        # The run's own directory, never a symlink out of the study; its plots/ meltdyn's, never a user's.
        run_dir = inside(study.output_dir, run.id, field=field, make=False)
        inside(run_dir, "plots", field=field, make=False)
        plots = claim(run_dir / "plots", "plots", field=field, within=run_dir,
                      adopt=lambda d: _earlier_plots(d, observables))
        composition = run.composition if isinstance(run.composition, str) else f"x(Na2O) = {run.composition:g}"
        what = f"{composition}, replica {run.replica}, target {run.temperature_K:g} K"
        for path in plot_results(results, observables, plots, _figure_title(what, summary)):
            print(path)
    return 0


def _figure_title(what: str, summary: dict[str, Any]) -> str:
    """What a figure shows and at which temperature the run was measured to be (the state point reached)."""
    from meltdyn.analysis.state_point import reached_text

    reached = reached_text(summary)
    return f"{what}; T reached {reached}" if reached is not None else what


def _earlier_plots(directory: Path, observables: dict[str, Any]) -> bool:
    """Figures an earlier meltdyn drew before it marked plots/: one PNG and PDF per observable, nothing else."""
    from meltdyn.analysis.plots import FORMATS

    drawn = {f"{label}.{fmt}" for label in observables for fmt in FORMATS}
    return all(p.name in drawn and p.is_file() and not p.is_symlink() for p in directory.iterdir())


def _analyse_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("analysis", help="analysis file (YAML): trajectory, format, observables, output_dir")


def _analyse(args: argparse.Namespace) -> int:
    from meltdyn.analysis.standalone import analyse_trajectory, load_analysis

    cost = AnalysisCost()
    spec, registry = load_analysis(args.analysis, getattr(args, "registry", None))
    analyse_trajectory(args.analysis, registry=registry, cost=cost)
    from meltdyn.base.jsonio import read_json

    out = Path(spec.output_dir)
    summary = read_json(out / "summary.json", "the analysis summary just written")
    print(f"{spec.trajectory}  analysed  ({out}: results.h5, summary.json)")
    print(_state_line(summary, out / "summary.json", "analyse the trajectory again into a new output_dir"))
    _print_summary(summary)
    print(f"analysis: {cost.seconds:.1f} s, {cost.block_atoms} atoms per block, peak memory {cost.peak_rss_MB:.0f} MB")
    return 0


def _init_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the study file to write (it must not exist)")


def _init(args: argparse.Namespace) -> int:
    import re

    from meltdyn.base.errors import StudyError
    from meltdyn.cli.template import study_template

    path = Path(args.file)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._") or "study"
    try:
        with open(path, "x", encoding="utf-8") as f:  # exclusive: never over a file that is there
            f.write(study_template(name, str(path)))
    except FileExistsError:
        raise StudyError(f"{str(path)!r} exists; meltdyn never overwrites it. Give another file name.") from None
    print(f"wrote {path}: a study of one NS2 melt at 3000 K with SHIK; `meltdyn validate {path}` checks it, "
          f"`meltdyn run {path}` runs it (minutes on a CPU)")
    return 0


def _plugins_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true")


def _plugins(args: argparse.Namespace) -> int:
    registry = getattr(args, "registry", None) or discover()
    rows = [(e.name, e.kind, e.version, e.distribution, e.definition.summary) for e in registry.all_entries()]
    rows += [(c.command.name, "command", "", c.distribution, c.command.help) for c in registry.commands.values()]
    if args.json:
        print(json.dumps({"plugins": [dict(zip(("name", "kind", "version", "distribution", "summary"), r))
                                      for r in rows],
                          "problems": [str(p) for p in registry.problems]}, indent=2))
    else:
        header = ("name", "kind", "version", "distribution", "summary")
        widths = [max(len(str(r[i])) for r in [*rows, header]) for i in range(4)]
        for row in [header, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4])
        for problem in registry.problems:
            print(f"error: {problem}", file=sys.stderr)
    return 1 if registry.problems else 0


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    from meltdyn.cli.export import add_arguments

    add_arguments(parser)


def _export(args: argparse.Namespace) -> int:
    from meltdyn.base.errors import StudyError
    from meltdyn.base.ownership import claim
    from meltdyn.cli import export

    analysis = _analysis_spec(args)
    if analysis is not None:
        spec, _ = analysis
        out = _analysis_output(spec)
        converted = out / "trajectory.h5"  # a foreign format's conversion; H5MD is read where it lies
        sources = [(Path(spec.trajectory).stem, converted if converted.is_file() else Path(spec.trajectory))]
    else:
        study = _load(args)
        known = [run.id for run in study.runs]
        unknown = sorted(set(args.only or []) - set(known))
        if unknown:
            raise StudyError(f"--only: {unknown} are not runs of this study; its runs: {', '.join(known)}")
        sources = []
        for run in study.runs:
            if args.only and run.id not in args.only:
                continue
            if not run.completed:
                print(f"{run.id}: {run.status['state']}, nothing to export")
                continue
            sources.append((run.id, run.trajectory))
    if not sources:
        raise StudyError(f"{args.study}: no completed run to export; `meltdyn run {args.study}` runs them")
    # Every frame read (and a bad --frames refused) before the directory is made.
    images = [(name, export.structures(trajectory, args.frames, args.format)) for name, trajectory in sources]
    to = claim(args.to, "export", field="--to")
    suffix = export.FORMATS[args.format][1]
    for name, frames in images:
        path = to / f"{name}{suffix}"
        if path.exists():
            raise StudyError(f"--to: {str(path)!r} exists; meltdyn never overwrites a file. Choose another --to")
        export.write(frames, path, args.format)
        print(f"{path}  ({len(frames)} frame(s), {len(frames[0])} atoms, {args.format})")
    return 0


def _schema_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--markdown", action="store_true", help="print the file reference (study, analysis and "
                      "plugins' files) as Markdown instead")
    what.add_argument("--cli-markdown", action="store_true", help="print the command-line reference as Markdown "
                      "instead")


def _schema(args: argparse.Namespace) -> int:
    from meltdyn.cli.reference import cli_markdown, reference_markdown
    from meltdyn.study.model import study_model

    registry = getattr(args, "registry", None) or discover()
    if args.markdown:
        sys.stdout.write(reference_markdown(registry))
    elif args.cli_markdown:
        sys.stdout.write(cli_markdown(registry))
    else:
        print(json.dumps(study_model(registry).model_json_schema(), indent=2))
    return 0


@hookimpl
def meltdyn_commands() -> list[Command]:
    return [
        Command("run", "run (or continue) every run of a study and analyse it", _run_arguments, _run),
        Command("init", "write a commented study file to start from (one NS2 melt with SHIK, minutes on a CPU)",
                _init_arguments, _init),
        Command("validate", "check a study, analysis or training file (plugins and hardware included) without "
                "running anything", _validate_arguments, _validate),
        Command("results", "print each run's state and summary (or an analysis file's): a table with units, failure "
                "reasons and flags",
                _results_arguments, _results),
        Command("plot", "draw each observable's figure (PNG and PDF) into each run's plots/ (or an analysis' "
                "output_dir/plots/)", _study_or_analysis_arguments, _plot),
        Command("analyse", "run observables over an existing trajectory (H5MD, extxyz, LAMMPS dump, DCD)",
                _analyse_arguments, _analyse),
        Command("plugins", "list discovered plugins and commands (name, kind, version, distribution)",
                _plugins_arguments, _plugins),
        Command("export", "write runs' structures (the last frame, one or all) as extxyz, LAMMPS data, POSCAR or CIF",
                _export_arguments, _export),
        Command("schema", "print the JSON Schema of study files for the installed plugins", _schema_arguments,
                _schema),
    ]
