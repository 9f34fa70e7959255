"""The ``migrate-opt`` entry point: parse, hand the command its arguments, and turn an
error on bad options into one clear line (exit 2), never a traceback."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from ..errors import MigrateOptError
from .listing import cmd_methods, cmd_plugins
from .parser import build_parser
from .run import cmd_resume, cmd_run
from .view import cmd_compare, cmd_report, cmd_show


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``migrate-opt ARGV``; the exit status: 0, 2 on a bad option, 130 interrupted."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if extra and args.command not in ("run", "resume"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "run":
            return cmd_run(args, extra)
        if args.command == "resume":
            return cmd_resume(args, extra)
        handler = {"plugins": cmd_plugins, "methods": cmd_methods, "show": cmd_show,
                   "report": cmd_report, "compare": cmd_compare}[args.command]
        return handler(args)
    except BrokenPipeError:  # `show ... | head` closed our output: nothing went wrong here
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0
    except KeyboardInterrupt:  # while a model loads, or a file is read
        starting = args.command in ("run", "resume")
        print("\nmigrate-opt: interrupted" + (" before the run started; nothing was written"
                                              if starting else ""), file=sys.stderr)
        return 130
    except ImportError as exc:
        print(f"migrate-opt: error: {exc}; install the extra it needs, e.g. "
              "pip install 'migrate-opt[llm]'", file=sys.stderr)
        return 2
    except (MigrateOptError, ValueError, KeyError, OSError) as exc:
        if args.verbose:
            raise
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"migrate-opt: error: {' '.join(msg.split())}", file=sys.stderr)  # one line
        return 2
