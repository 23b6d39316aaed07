"""The ``report`` plugin: ``meltdyn report STUDY.yaml`` aggregates a study's completed runs into OUTPUT_DIR/report/
(table.csv, table.json, figures as PNG and PDF, and report.html with everything in one file)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from meltdyn.plugin import Command, hookimpl


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file (YAML)")
    parser.add_argument("--output-dir", help="override the study's output_dir")
    parser.add_argument("--to", type=Path, help="where the report goes (default OUTPUT_DIR/report)")


def _report(args: argparse.Namespace) -> int:
    from meltdyn.plugin import StudyError
    from meltdyn.plugin import claim, inside, usable
    from meltdyn.plugins.commands.report.build import Report
    from meltdyn.plugin import load_study

    study = load_study(args.study, registry=getattr(args, "registry", None), output_dir=args.output_dir)
    report = Report(study)  # every run read (and refused if damaged) before anything is made
    if not report.points:
        states = sorted({m["state"] for m in report.missing})
        raise StudyError(f"{args.study}: nothing to report: no run of the study is completed yet (its "
                         f"{len(study.runs)} run(s) are {', '.join(states)}); `meltdyn run {args.study}` runs them, "
                         f"and `meltdyn results {args.study}` says why one failed")
    default = args.to is None
    field = "--to" if not default else "report (OUTPUT_DIR/report)"
    target = study.output_dir / "report" if default else args.to
    out = usable(target, field)  # a NUL byte, a name too long, a symlink loop: refused before anything else
    # The report is its study's own: it may sit inside the study's directory, nowhere else meltdyn made, and is
    # never a symlink out of it.
    within = None
    if default or usable(Path(os.path.abspath(target)).parent, field) == study.output_dir:
        inside(study.output_dir, Path(target).name, field=field, make=False)
        within = study.output_dir
    out = claim(out, "report", field=field, within=within, adopt=_earlier_report)
    payload = report.write(out)
    print(f"{out / 'report.html'}: {payload['runs_completed']} of {len(study.runs)} runs"
          + (f"; missing: {', '.join(m['run'] for m in payload['runs_missing'])}" if payload["runs_missing"] else ""))
    return 0


REPORT_FILES = {"table.csv", "table.json", "report.html"}


def _earlier_report(directory: Path) -> bool:
    """A report an earlier meltdyn wrote before directories were marked: report.html, tables and figures only."""
    names = {p.name for p in directory.iterdir()}
    return "report.html" in names and all(n in REPORT_FILES or n.endswith((".png", ".pdf")) for n in names) \
        and directory.name == "report"


@hookimpl
def meltdyn_commands() -> list[Command]:
    return [Command("report", "aggregate a study's completed runs: tables, Arrhenius fits, figures, report.html",
                    _arguments, _report)]
