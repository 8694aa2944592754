"""The one exception type for expected failures (bad input, missing files, NaN loss).

CLIs catch `LightRNNError`, print its message as one line to stderr and exit with status 2;
library users get an ordinary exception whose message names the problem.
"""

import argparse
import errno
import numbers


class LightRNNError(Exception):
    """An expected failure with a one-line, user-facing message."""


def disk_full(e: Exception) -> bool:
    """Whether a failed write (`OSError`, or a TensorFlow `OpError` naming the OS error) ran out of space."""
    return getattr(e, "errno", None) == errno.ENOSPC or "No space left" in str(e)


def positive_int(value, name: str, error=LightRNNError):
    """`value` if it is an integer >= 1 (a Python or NumPy int, not a bool); else raises `error`
    naming the setting `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise error(f"Received an invalid value for `{name}`, expected a positive integer, got {value}.")
    return value


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose usage errors are one line too: `error: ... (see PROG --help)`,
    exit status 2 (argparse's own status), instead of the usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")
