"""Command groups that are imported and built only when they are used.

typer builds the whole command tree (every parameter of every command, from type hints) on
each run, and the root used to import every command module: a fifth of `localgpt status`'s
start-up. The root group here knows its commands by name and `module:attribute`, and imports
and builds one only when it is invoked (`--help` and completion still list them all).
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup


class LazyGroup(TyperGroup):
    """A typer group whose `commands` map names to `"module:attribute"`, where the attribute is
    a `typer.Typer` (a command group) or a function (one command)."""

    lazy: ClassVar[dict[str, str]] = {}
    settings: ClassVar[dict[str, Any]] = {}  # typer.Typer options the built commands share

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.commands[cmd_name] = build(cmd_name, self.lazy[cmd_name], self.settings)
        return super().get_command(ctx, cmd_name)


def lazy_group(commands: dict[str, str], **settings: Any) -> type[LazyGroup]:
    """A LazyGroup class for one root app (`typer.Typer(cls=...)`)."""
    return type("Commands", (LazyGroup,), {"lazy": dict(commands), "settings": settings})


def build(name: str, target: str, settings: dict[str, Any]) -> Any:
    """Import `module:attribute` and build its click command as `add_typer` / `command` would
    under a root with `settings`."""
    module_name, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module_name), attribute)
    parent = typer.Typer(**settings)
    if isinstance(found, typer.Typer):
        parent.add_typer(found, name=name)
    else:
        parent.command(name)(found)
    return typer.main.get_group(parent).commands[name]
