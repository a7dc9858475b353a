"""Where `flowc compile` writes each IR when it compiles into a folder.

One flow compiles to stdout or to the file `-o` names, as before. Several flows
(or `-o` naming a folder: an existing one, or a name ending in `/`) compile into
that folder, each as `NAME.ir.json` after its source file, so that a build step
can compile a whole folder of flows in one call and `flowd run` can read them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

STDIN = "-"
_SOURCE_SUFFIXES = (".flow.yaml", ".flow.yml", ".flow", ".yaml", ".yml")


class UnclearOutputsError(Exception):
    """The files cannot be written into a folder as asked (the message says why)."""


def is_folder_output(files: Sequence[str], output: str | None) -> bool:
    """Whether the IRs go into a folder rather than to one file or stdout."""
    if output is None or output == STDIN:
        return len(files) > 1
    return len(files) > 1 or output.endswith(("/", os.sep)) or Path(output).is_dir()


def ir_name(file: str) -> str:
    """`orders/order_fulfillment.flow.yaml` -> `order_fulfillment.ir.json`."""
    name = Path(file).name
    for suffix in _SOURCE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return f"{name}.ir.json"


def output_paths(files: Sequence[str], folder: str | None) -> dict[str, str]:
    """The output path of each input file; raises UnclearOutputsError when there is none."""
    if folder is None or folder == STDIN:
        raise UnclearOutputsError(
            f"{len(files)} files compile to {len(files)} IRs: "
            "give the folder to write them into with -o DIR"
        )
    if STDIN in files:
        raise UnclearOutputsError(
            "standard input has no file name to name its IR after: give files"
        )
    written: dict[str, str] = {}
    for file in files:
        target = os.path.join(folder, ir_name(file))
        if target in written.values():
            first = next(f for f, t in written.items() if t == target)
            raise UnclearOutputsError(
                f"{first} and {file} would both be written to {target}: "
                "compile them into different folders, or rename one"
            )
        written[file] = target
    return written
