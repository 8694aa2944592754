"""The one exception type for expected failures (bad input, missing files, NaN loss).

CLIs catch `LightRNNError`, print its message as one line to stderr and exit with status 2;
library users get an ordinary exception whose message names the problem.
"""


class LightRNNError(Exception):
    """An expected failure with a one-line, user-facing message."""
