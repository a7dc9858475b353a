"""`flowc`: validate, compile, convert and draw flows.

Exit codes: 0 no errors (warnings allowed), 1 errors found, 2 usage or I/O errors.
Everything beyond argument parsing is imported lazily so that start-up stays fast.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import argparse

    from ..dsl.diagnostics import Diagnostic
    from ..dsl.load import Surface
    from .render import Line

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
STDIN = "-"
STDIN_NAME = "<stdin>"


class _UsageError(Exception):
    """A usage or I/O problem: message for stderr, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run flowc with `argv` (default: sys.argv[1:]) and return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list == ["--version"]:
        sys.stdout.write(f"flowc {_version()}\n")
        return EXIT_OK
    parser = _parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.version:
        sys.stdout.write(f"flowc {_version()}\n")
        return EXIT_OK
    if args.command is None:
        parser.print_usage(sys.stderr)
        return EXIT_USAGE
    from .ir import InvalidIRError

    session = _Session(colour=args.color)
    try:
        with _quiet_gc(off=getattr(args, "collector_off", False)):
            code: int = args.run(session, args)
    except _UsageError as exc:
        sys.stderr.write(f"flowc: error: {exc}\n")
        return EXIT_USAGE
    except _ReadError as exc:
        session.report([exc.diagnostic], sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`flowc compile x | head`): nothing left to say to it.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except InvalidIRError as exc:
        # The checks let through something the IR cannot express: a compiler bug,
        # reported plainly rather than as a traceback.
        sys.stderr.write(f"flowc: internal error, please report it: {exc}\n")
        return EXIT_ERRORS
    return code


BATCH_GC_THRESHOLDS = (200_000, 30, 30)
"""The collector's thresholds for commands that leave it on (the default is 700, 10, 10)."""


@contextlib.contextmanager
def _quiet_gc(*, off: bool) -> Iterator[None]:
    """The collector off (`off`) or at BATCH_GC_THRESHOLDS while a command runs.

    Compiling builds a large tree of long-lived objects and makes almost no
    cyclic garbage, so validate, compile, convert and graph turn the collector
    off (see _no_gc); other commands, whose garbage is not measured, only
    collect less often.
    """
    import gc

    if off:
        with _no_gc():
            yield
        return
    thresholds = gc.get_threshold()
    gc.set_threshold(*BATCH_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Turn the cyclic garbage collector off while compiling, then back on.

    A compilation builds a large tree of long-lived objects and makes almost no
    cyclic garbage (about 300 unreachable objects after validating a 1,000-state
    flow); the collector would only re-scan that tree. Relaxed thresholds
    (200,000, 30, 30) already saved a third of the run time on a large flow;
    turning it off saves another 15% (bench/compile.py).
    """
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flowyard")
    except PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="flowc", description="Compile, check and draw Flowyard flows."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour diagnostics (auto: only on a terminal, and not with NO_COLOR)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def surface_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--surface",
            choices=["yaml", "dsl"],
            default=None,
            help="syntax of the input (default: from the file name; for stdin, from the text)",
        )

    def check_ir_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--check-ir",
            action="store_true",
            default=None,
            help="also check the produced IR against the IR schema "
            "(a compiler self-test, slow on large flows; or set FLOWYARD_CHECK_IR=1)",
        )

    p = sub.add_parser("validate", help="check flows and report diagnostics")
    p.add_argument("files", nargs="+", metavar="FILE", help="flow files ('-' for stdin)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--no-machine-checks",
        dest="machine_checks",
        action="store_false",
        help="do not warn about env names unset here or python effects not found here "
        "(for flows that run on another machine)",
    )
    p.add_argument(
        "--strict", action="store_true", help="exit 1 on warnings too, as on errors (for CI)"
    )
    surface_arg(p)
    check_ir_arg(p)
    p.set_defaults(run=_validate, collector_off=True)

    p = sub.add_parser("compile", help="write the IR as JSON")
    p.add_argument("files", nargs="+", metavar="FILE", help="flow files ('-' for stdin)")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output file (default: stdout); with several files, or a name ending in '/' "
        "or an existing folder, the folder to write each NAME.ir.json into",
    )
    surface_arg(p)
    check_ir_arg(p)
    p.set_defaults(run=_compile, collector_off=True)

    p = sub.add_parser("convert", help="convert between the YAML and DSL surfaces")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--to", choices=["dsl", "yaml"], required=True)
    p.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    surface_arg(p)
    p.set_defaults(run=_convert, collector_off=True)

    p = sub.add_parser("graph", help="draw the state machine")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=["mermaid", "dot", "svg", "json"], default="mermaid")
    p.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    surface_arg(p)
    p.set_defaults(run=_graph, collector_off=True)

    p = sub.add_parser(
        "check", help="explore what can happen to flows and report what can go wrong"
    )
    surface_arg(p)
    from .check.cli import configure

    configure(p)
    p.set_defaults(run=_check)
    return parser


class _ReadError(Exception):
    """A file that cannot be read: reported as its FY001 diagnostic, exit code 2."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Session:
    """Source texts read so far (for snippets) and how to print diagnostics."""

    def __init__(self, *, colour: str) -> None:
        self.colour = colour
        self.sources: dict[str, str] = {}

    def read(self, file: str, surface: Surface | None) -> tuple[str, str, Surface]:
        """(display name, text, surface) of FILE; raises _ReadError when it cannot be read."""
        from ..dsl.load import decode_source, sniff_surface, surface_for
        from .api import read_source

        if file == STDIN:
            stream = getattr(sys.stdin, "buffer", None)
            try:
                data = stream.read() if stream is not None else sys.stdin.read().encode()
            except OSError as exc:
                raise _UsageError(f"cannot read standard input: {exc}") from exc
            text, problem = decode_source(data, file=STDIN_NAME)
            if problem is not None:
                raise _ReadError(problem)
            name, chosen = STDIN_NAME, surface or sniff_surface(text)
        else:
            text, problem = read_source(file)
            if problem is not None:
                raise _ReadError(problem)
            name, chosen = file, surface or surface_for(file)
        self.sources[name] = text
        return name, text, chosen

    def use_colour(self, stream: TextIO) -> bool:
        import os

        if self.colour != "auto":
            return self.colour == "always"
        if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
            return False
        return stream.isatty()

    def report(
        self, diagnostics: Sequence[Diagnostic], stream: TextIO, *, with_summary: bool = True
    ) -> None:
        from .render import render_lines, source_lookup

        lines = render_lines(
            diagnostics, sources=source_lookup(self.sources), with_summary=with_summary
        )
        self.write_lines(lines, stream)

    def write_lines(self, lines: Sequence[Line], stream: TextIO) -> None:
        """Print rendered lines, coloured by role when the stream wants colour."""
        if not self.use_colour(stream):
            stream.write("".join("".join(t for t, _ in line) + "\n" for line in lines))
            return
        from rich.console import Console
        from rich.text import Text

        styles = {
            "error": "bold red",
            "warning": "bold yellow",
            "location": "bold",
            "gutter": "bold blue",
            "hint": "cyan",
            "more": "dim",
            "summary": "bold",
        }
        console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True)
        for line in lines:
            console.print(Text.assemble(*[(t, styles.get(r or "", "")) for t, r in line]))


def _write(output: str | None, content: str | bytes) -> None:
    if output is None or output == STDIN:
        if isinstance(content, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(content)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(content)
        return
    from pathlib import Path

    try:
        if isinstance(content, bytes):
            Path(output).write_bytes(content)
        else:
            Path(output).write_text(content, encoding="utf-8")
    except OSError as exc:
        raise _UsageError(f"cannot write {output}: {exc.strerror or exc}") from exc


def _exit_code(diagnostics: Sequence[Diagnostic]) -> int:
    from ..dsl.diagnostics import has_errors

    return EXIT_ERRORS if has_errors(diagnostics) else EXIT_OK


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _count_transitions(ir: dict[str, Any]) -> int:
    total = 0
    for state in ir["definition"]["states"].values():
        total += sum(len(c) for c in state["on"].values()) + len(state["always"])
        total += sum(len(t["candidates"]) for t in state["timers"])
    return total


def _validate(session: _Session, args: argparse.Namespace) -> int:
    from .render import render_json, summary

    everything: list[Diagnostic] = []
    io_failed = False
    wrote = after_diagnostics = False
    for file in args.files:
        try:
            name, text, surface = session.read(file, args.surface)
        except _ReadError as exc:
            io_failed = True
            ir, diagnostics = None, [exc.diagnostic]
        else:
            ir, diagnostics = _checked(name, text, surface, args)
        everything.extend(diagnostics)
        if args.format == "text":
            # Files with diagnostics are set apart by blank lines; clean ones stay compact.
            if wrote and (diagnostics or after_diagnostics):
                sys.stdout.write("\n")
            session.report(diagnostics, sys.stdout, with_summary=False)
            if ir is not None:
                sys.stdout.write(
                    ("\n" if diagnostics else "")
                    + f"ok: {name} (flow {ir['flow']} v{ir['version']}, "
                    f"{_plural(len(ir['definition']['states']), 'state')}, "
                    f"{_plural(_count_transitions(ir), 'transition')})\n"
                )
            wrote, after_diagnostics = True, bool(diagnostics)
    if args.format == "json":
        sys.stdout.write(render_json(everything))
    elif everything:
        strict = " (--strict: warnings fail too)" if args.strict else ""
        sys.stdout.write(f"\n{summary(everything)}{strict}\n")
    if io_failed:
        return EXIT_USAGE
    return EXIT_ERRORS if args.strict and everything else _exit_code(everything)


def _checked(
    name: str, text: str, surface: Surface, args: argparse.Namespace
) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """What validate reports for one file: the compiler's diagnostics and the machine's."""
    from .api import compile_text_keeping_ast

    flow, ir, diagnostics = compile_text_keeping_ast(
        text, file=name, surface=surface, check_ir=args.check_ir
    )
    if flow is None or not args.machine_checks:
        return ir, diagnostics
    import os
    from pathlib import Path

    from ..dsl.diagnostics import normalise
    from .machine_checks import machine_diagnostics

    search = [os.getcwd()]
    if name != STDIN_NAME:
        search.append(str(Path(name).resolve().parent))
    found = machine_diagnostics(flow, text, environ=os.environ, search=search)
    return ir, normalise([*diagnostics, *found]) if found else diagnostics


def _compile(session: _Session, args: argparse.Namespace) -> int:
    from .api import compile_text
    from .compile_outputs import UnclearOutputsError, is_folder_output, output_paths
    from .ir import dumps

    targets: dict[str, str] | None = None
    if is_folder_output(args.files, args.output):
        try:
            targets = output_paths(args.files, args.output)
        except UnclearOutputsError as exc:
            raise _UsageError(str(exc)) from exc
    everything: list[Diagnostic] = []
    irs: list[tuple[str, dict[str, Any]]] = []
    for file in args.files:
        name, text, surface = session.read(file, args.surface)
        ir, diagnostics = compile_text(text, file=name, surface=surface, check_ir=args.check_ir)
        if diagnostics:
            session.report(diagnostics, sys.stderr, with_summary=targets is None)
        everything.extend(diagnostics)
        if ir is not None:
            irs.append((file, ir))
    if len(irs) < len(args.files):
        # A build step gets every output or none: no IR next to a flow that failed.
        if targets is not None:
            from .render import summary

            sys.stderr.write(f"\n{summary(everything)}; nothing written\n")
        return EXIT_ERRORS
    if targets is None:
        _write(args.output, dumps(irs[0][1]))
        return _exit_code(everything)
    _make_folder(args.output)
    for file, ir in irs:
        _write(targets[file], dumps(ir))
        sys.stdout.write(f"wrote {targets[file]} (flow {ir['flow']} v{ir['version']})\n")
    return _exit_code(everything)


def _make_folder(path: str) -> None:
    from pathlib import Path

    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _UsageError(f"cannot create the folder {path}: {exc.strerror or exc}") from exc


def _convert(session: _Session, args: argparse.Namespace) -> int:
    from ..dsl.comments import attach, source_comments
    from .api import parse_text

    name, text, surface = session.read(args.file, args.surface)
    flow, diagnostics = parse_text(text, file=name, surface=surface)
    if diagnostics:
        session.report(diagnostics, sys.stderr)
    if flow is None or _exit_code(diagnostics) != EXIT_OK:
        return EXIT_ERRORS
    comments = attach(source_comments(text, surface), flow, text.splitlines())
    if args.to == "dsl":
        from ..dsl.dsl_printer import format_dsl

        _write(args.output, format_dsl(flow, comments))
    else:
        from ..dsl.yaml_printer import format_yaml

        _write(args.output, format_yaml(flow, comments))
    sys.stderr.write(f"flowc: {comments.summary()}\n")
    return EXIT_OK


def _graph(session: _Session, args: argparse.Namespace) -> int:
    from .api import compile_text
    from .graph import GraphvizError, GraphvizMissing, render_graph

    name, text, surface = session.read(args.file, args.surface)
    ir, diagnostics = compile_text(text, file=name, surface=surface)
    if diagnostics:
        session.report(diagnostics, sys.stderr)
    if ir is None:
        return EXIT_ERRORS
    try:
        drawing = render_graph(ir, args.format)
    except (GraphvizMissing, GraphvizError) as exc:
        raise _UsageError(str(exc)) from exc
    _write(args.output, drawing)
    return EXIT_OK


def _check(session: _Session, args: argparse.Namespace) -> int:
    from .check.cli import run

    return run(session, args)


if __name__ == "__main__":
    sys.exit(main())
