"""Errors that reach the user as one line (exit code 2 from the CLI)."""


class UserError(Exception):
    """Bad input: config, flags, paths, targets. The message says what and how to fix it."""


class ServiceError(Exception):
    """The service could not do what was asked (message is shown as is, exit code 1)."""
