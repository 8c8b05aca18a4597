"""The one kind of error the command line reports as a single message with exit status 2."""


class CLIError(Exception):
    """A user mistake on the command line: printed as one message, exit status 2."""
