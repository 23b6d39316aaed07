"""The ``report`` plugin: ``meltdyn report STUDY.yaml`` aggregates a study's completed runs into OUTPUT_DIR/report/
(table.csv, table.json, figures as PNG and PDF, and report.html with everything in one file)."""

from __future__ import annotations

import argparse
from pathlib import Path

from meltdyn.hookspecs import hookimpl
from meltdyn.plugin import Command


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file (YAML)")
    parser.add_argument("--output-dir", help="override the study's output_dir")
    parser.add_argument("--to", type=Path, help="where the report goes (default OUTPUT_DIR/report)")


def _report(args: argparse.Namespace) -> int:
    from meltdyn.plugins.commands.report.build import Report
    from meltdyn.study import load_study

    study = load_study(args.study, registry=getattr(args, "registry", None), output_dir=args.output_dir)
    out = args.to or study.output_dir / "report"
    payload = Report(study).write(out)
    print(f"{out / 'report.html'}: {payload['runs_completed']} of {len(study.runs)} runs"
          + (f"; missing: {', '.join(m['run'] for m in payload['runs_missing'])}" if payload["runs_missing"] else ""))
    return 0


@hookimpl
def meltdyn_commands() -> list[Command]:
    return [Command("report", "aggregate a study's completed runs: tables, Arrhenius fits, figures, report.html",
                    _arguments, _report)]
