"""The one `flotilla` command line; each subcommand lives in the module that owns it.

A subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` (``(argparse.Namespace) -> int``) as the parser default. Add new ones to
``SUBCOMMAND_MODULES``; they are imported lazily so `flotilla --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Modules that contribute subcommands, in the order `--help` lists them.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "flotilla.devcluster.commands",
    "schemas.crdgen.cli",
    "watcher.command",
    "workers.runtime.cli",
    "webhook.command",
    "nodeagent.command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flotilla",
        description="OpenKruise's advanced workloads as event-driven controllers over NATS JetStream.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
