"""The ``meltdyn`` command line: it dispatches to the commands plugins register (meltdyn's own included)."""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import warnings

from meltdyn.base.cores import StudyWarning
from meltdyn.base.version import __version__
from meltdyn.base.errors import StudyError
from meltdyn.base.storage import describe as storage_fault
from meltdyn.hooks.registry import PluginError, Registry, discover

DESCRIPTION = """\
meltdyn runs a study: build melts, simulate them with a potential and an engine, and analyse the production
trajectory with observables, for every composition x temperature x replica of the sweep. Runs go to
OUTPUT_DIR/<run id>/ and a second 'meltdyn run' skips finished runs and continues unfinished ones from their last
checkpoint.
"""
CORE_ORDER = ("init", "run", "validate", "results", "plot", "analyse", "export", "plugins", "schema")


def parser(registry: Registry) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="meltdyn", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    p.add_argument("--version", action="version", version=f"meltdyn {__version__} (Python {platform.python_version()})")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    names = sorted(registry.commands, key=lambda n: (CORE_ORDER.index(n) if n in CORE_ORDER else len(CORE_ORDER), n))
    for name in names:
        command = registry.commands[name].command
        sp = sub.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sp)
        sp.set_defaults(run_command=command.run)
    return p


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGXFSZ"):
        # A file-size limit (RLIMIT_FSIZE) then fails the write with EFBIG, an ordinary error meltdyn records,
        # instead of killing the process mid-write.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _show_study_warnings_plainly()
    registry = discover()
    cli = parser(registry)
    args = cli.parse_args(argv)
    if args.command is None:  # bare `meltdyn`: what it can do, not an error
        cli.print_help()
        return 0
    args.registry = registry
    if args.command != "plugins":
        for problem in registry.problems:
            print(f"meltdyn: warning: {problem} (it is left out; see 'meltdyn plugins')", file=sys.stderr)
    try:
        return args.run_command(args)
    except (StudyError, PluginError) as exc:
        if args.debug:
            raise
        print(f"meltdyn: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into a reader that stopped (`meltdyn results | head`): nothing more to say. stdout is pointed
        # at /dev/null so that Python's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        fault = storage_fault(exc)
        if args.debug or fault is None:
            raise
        print(f"meltdyn: error: {fault}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("meltdyn: interrupted; run the same command again to continue from the last checkpoint",
              file=sys.stderr)
        return 130



def _show_study_warnings_plainly() -> None:
    """A :class:`StudyWarning` (advice on a study that will run) as one ``meltdyn: warning:`` line, like the
    errors; other warnings as Python shows them."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if issubclass(category, StudyWarning):
            print(f"meltdyn: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
