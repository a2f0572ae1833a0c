"""The one exception type that user-facing entry points turn into a one-line error."""


class TrackerError(Exception):
    """Bad input from the user (paths, boxes, config, weights): reported in one line, exit 2."""
