"""`cachediag --man`: the man page, built from the Typer app's own commands and help.

Read off the click commands Typer builds (the ones `--help` prints from), so a new
command or option is in the page the moment it exists; laid out by render/man.py.
"""

from __future__ import annotations

import time
from typing import Any

import typer

from cachediag.render.man import ManCommand, ManOption, render


def _flags(param: Any) -> str:
    names = " / ".join([", ".join(param.opts), *param.secondary_opts])
    if getattr(param, "is_flag", False) or param.param_type_name != "option":
        return names
    metavar = param.metavar or param.type.name.upper()
    return f"{names} {metavar}"


def _usage(command: Any) -> str:
    words = ["[OPTIONS]"]
    for param in command.params:
        if param.param_type_name == "argument":
            name = (param.metavar or param.name).upper()
            many = "..." if param.nargs == -1 else ""
            words.append(f"{name}{many}" if param.required else f"[{name}]{many}")
    return " ".join(words)


def man_page(app: typer.Typer) -> str:
    group: Any = typer.main.get_command(app)
    commands = []
    for name, command in group.commands.items():
        options = tuple(
            ManOption(_flags(param), param.help or "")
            for param in command.params
            if param.param_type_name == "option" and not getattr(param, "hidden", False)
        )
        commands.append(ManCommand(name, _usage(command), command.help or "", options))
    date = time.strftime("%Y-%m-%d", time.gmtime())
    return render(group.help or "", commands, date)
