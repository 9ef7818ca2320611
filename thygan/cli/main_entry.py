"""`python -m thygan.cli.main_entry ...` runs the `thygan` command (for environments without the script)."""

from thygan.cli.main import cli

if __name__ == "__main__":
    cli()
