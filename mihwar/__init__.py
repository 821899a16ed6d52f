"""The `mihwar` command (`mihwar.cli`)."""


def main() -> None:
    """The `mihwar` console command: `mihwar.cli.main`, reached without an import at this module's top.

    Loading the command's modules (typer, pydantic) takes about 0.1 s, and a Ctrl-C then, right after Enter,
    printed a traceback from deep inside them; it now ends the command quietly, as a Ctrl-C later does."""
    try:
        from mihwar.cli import main as run
    except KeyboardInterrupt:
        import sys

        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    run()
