"""`python -m thygan ...` is the `thygan` command."""

from thygan.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="thygan")
