"""The one error type a human can fix; the CLI prints it as one line and exits with code 2."""


class UserError(Exception):
    """Bad input from the user (a file, a flag, a value). The message names it and what was expected."""
