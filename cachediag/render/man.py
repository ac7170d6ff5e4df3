"""The man page, cachediag(1), in roff: from the commands and options the CLI declares.

`cli/man.py` reads them off the Typer app (the same help `--help` prints), so the page
cannot drift from the program; this module only lays them out (man(7) macros).
"""

from __future__ import annotations

from dataclasses import dataclass

from cachediag import __version__


@dataclass(frozen=True)
class ManOption:
    flags: str  # "--redis URL", "--json", "--wait / --no-wait"
    help: str


@dataclass(frozen=True)
class ManCommand:
    name: str
    usage: str  # the arguments after the name: "[OPTIONS] [KEYS]..."
    help: str
    options: tuple[ManOption, ...]


def roff(text: str) -> str:
    """Plain text as roff: backslashes and hyphens escaped, no line taken for a request,
    and non-ASCII characters (µ, …, ×) as groff's \\[uXXXX], so no preprocessor is needed."""
    escaped = text.replace("\\", "\\e").replace("-", "\\-")
    escaped = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in escaped)
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in escaped.splitlines()
    )


def _paragraphs(text: str) -> list[str]:
    return [" ".join(block.split()) for block in text.split("\n\n") if block.strip()]


EXIT_STATUS = (
    ("0", "no fail and no error (warnings allowed)"),
    ("1", "a check failed, or a target is down"),
    ("2", "usage or configuration error: a bad flag, URL, config file or check id"),
    ("3", "a check or a reading could not be taken"),
    ("130", "interrupted (Ctrl-C)"),
)


def render(summary: str, commands: list[ManCommand], date: str) -> str:
    out = [
        f'.TH CACHEDIAG 1 "{date}" "cachediag {__version__}" "User Commands"',
        ".SH NAME",
        f"cachediag \\- {roff(summary)}",
        ".SH SYNOPSIS",
        ".B cachediag",
        "[\\fB\\-\\-version\\fR] [\\fB\\-\\-man\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
        ".SH DESCRIPTION",
        roff(
            "cachediag runs the cache-kit Production Troubleshooting Guide's checklist "
            "against Redis and Memcached caches and the host, read-only, and gives a "
            "verdict per item with the fix to apply. Every command takes --help and "
            "--version."
        ),
        ".SH COMMANDS",
    ]
    for command in commands:
        out += [".SS " + roff(f"cachediag {command.name} {command.usage}".rstrip())]
        for paragraph in _paragraphs(command.help):
            out += [".PP", roff(paragraph)]
        for option in command.options:
            out += [
                ".TP",
                "\\fB" + roff(option.flags) + "\\fR",
                roff(" ".join(option.help.split())),
            ]
    out += [".SH EXIT STATUS"]
    for code, meaning in EXIT_STATUS:
        out += [".TP", f"\\fB{code}\\fR", roff(meaning)]
    out += [
        ".SH ENVIRONMENT",
        ".TP",
        "\\fBCACHEDIAG_REDIS\\fR, \\fBCACHEDIAG_MEMCACHED\\fR",
        roff("Targets, comma-separated, when no flag names one."),
        ".TP",
        "\\fBREDISCLI_AUTH\\fR, \\fBCACHEDIAG_REDIS_PASSWORD\\fR",
        roff("The Redis password, kept out of the command line."),
        ".TP",
        "\\fBNO_COLOR\\fR",
        roff("No colour, even on a terminal."),
        ".SH FILES",
        ".TP",
        "\\fI./cachediag.toml\\fR",
        roff("Targets, thresholds, disabled checks and cache-kit entity layouts."),
        ".SH SEE ALSO",
        "\\fBredis\\-cli\\fR(1), \\fBmemcached\\fR(1)",
    ]
    return "\n".join(out) + "\n"
