"""User-facing errors: each message names the problem and the fix; the CLI prints it on one line, exit 2."""

from __future__ import annotations


class PPBenchError(Exception):
    """Base class of every error ppbench expects a user to be able to fix."""


class InputError(PPBenchError, ValueError):
    """Bad images or arrays: wrong dtype, shape, channel count or size."""


class NotApplicableError(InputError):
    """An attack that has no method for these inputs (e.g. images larger than it can take): a run records the
    attack as not applicable, with this message as the reason, and goes on."""


class KeyFileError(PPBenchError):
    """A key file that is missing, corrupt, or made for another scheme or size."""


class DataError(PPBenchError):
    """A data set that cannot be found or read (offline and not cached, malformed files)."""


class CheckpointError(PPBenchError):
    """A checkpoint or result record that is corrupt or belongs to another run."""


class OutputExistsError(PPBenchError):
    """An output that already exists and would be overwritten without ``--overwrite``."""


class OutputError(PPBenchError):
    """An output that cannot be written where asked (a folder where a file goes, no permission, the input itself)."""
