"""Click classes that turn user errors into one line on stderr and exit code 2, never a traceback."""

import sys

import click

from thygan.errors import UserError

USER_ERROR_EXIT = 2


def close_progress_bars() -> None:
    """Close every progress bar still open, innermost first, so a message printed next starts on a line
    of its own: a terminal bar is redrawn in place with carriage returns and leaves the cursor after
    its text, and an error raised inside its loop would otherwise be glued to it. Bars that are not
    kept erase themselves; kept ones end their line."""
    tqdm = sys.modules.get("tqdm")  # no tqdm imported: no bar can be open (and --help stays light)
    if tqdm is None:
        return
    for bar in sorted(list(tqdm.tqdm._instances), key=lambda bar: -abs(getattr(bar, "pos", 0))):
        bar.close()


def _fail(message: str) -> None:
    close_progress_bars()
    click.echo(f"error: {message}", err=True)
    sys.exit(USER_ERROR_EXIT)


def _run_guarded(invoke, *args, **kwargs):
    """Call a click ``main`` and map every user-fixable error to one line and exit 2."""
    try:
        result = invoke(*args, standalone_mode=False, **kwargs)
    except UserError as exc:
        _fail(str(exc))
    except click.UsageError as exc:
        hint = f" (see --help for {exc.ctx.command_path})" if exc.ctx is not None else ""
        _fail(exc.format_message().replace("\n", " ") + hint)
    except click.ClickException as exc:
        _fail(exc.format_message().replace("\n", " "))
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        close_progress_bars()
        click.echo("interrupted; finished outputs are kept and the work resumes when re-run", err=True)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)


class Command(click.Command):
    """A click command whose errors are one line and exit 2 (see module docstring)."""

    def main(self, *args, **kwargs):  # noqa: D401 - click signature
        kwargs.pop("standalone_mode", None)
        _run_guarded(super().main, *args, **kwargs)


class LazyGroup(click.Group):
    """A group that imports each command's module only when that command runs (instant --help)."""

    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy_commands:
            module_name, attr = self.lazy_commands[name].split(":")
            module = __import__(module_name, fromlist=[attr])
            return getattr(module, attr)
        return super().get_command(ctx, name)

    def main(self, *args, **kwargs):
        kwargs.pop("standalone_mode", None)
        _run_guarded(super().main, *args, **kwargs)
