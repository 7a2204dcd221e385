"""How a command is declared: one function taking the shared context and its arguments, a help
line and an example; a group (`monitor rules ...`) is declared the same way and lists its
subcommands' examples in its own --help."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from monitor.cli.context import Context

Command = Callable[[Context, argparse.Namespace], int]


class Commands:
    """The subcommands of one parser (the top level, or a group)."""

    def __init__(self, parser: argparse.ArgumentParser, *, top: bool = False) -> None:
        self.parser = parser
        self.top = top
        dest = "command" if top else f"{parser.prog.split()[-1]}_command"
        self._sub = parser.add_subparsers(dest=dest, metavar="COMMAND" if top else "ACTION")

    def add(self, name: str, func: Command, help: str,  # noqa: A002 - argparse's own word
            example: str) -> argparse.ArgumentParser:
        """A command whose --help ends with ``example``; in a group, the group's --help lists
        the example too."""
        p = self._sub.add_parser(name, help=help, description=help,
                                 epilog=f"example:\n  {example}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        if not self.top:
            self.parser.epilog = f"{self.parser.epilog}\n  {example}"
        return p

    def group(self, name: str, help: str, example: str,  # noqa: A002
              func: Command | None = None) -> tuple[argparse.ArgumentParser, Commands]:
        """A command with subcommands. Without ``func`` the group alone prints its help and
        exits 2 (a usage error); with it, the group is a command too (`monitor feeds` lists)."""
        p = self.add(name, func or _print_help, help, example)
        p.epilog = f"examples:\n  {example}"
        p.set_defaults(group_parser=p)
        return p, Commands(p)


def _print_help(ctx: Context, args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.group_parser
    parser.print_help()
    return 2
