"""The one exception family of neuroemu.

Every error a user can cause (bad files, bad options, impossible sizes) is a
:class:`NeuroEmuError` whose message names where the problem is, the rule, and
the offending value. The CLI turns these into a one-line message and exit 1.
"""


class NeuroEmuError(Exception):
    """Base class of all errors neuroemu raises on purpose.

    The message is always one line: line breaks inside it (from a user's value or key, say)
    are shown escaped, so the CLI prints exactly one line whatever went in.
    """

    def __init__(self, message: object = "", *args):
        text = str(message)
        if "\n" in text or "\r" in text:
            text = text.replace("\r", "\\r").replace("\n", "\\n")
        super().__init__(text, *args)


class ConfigError(NeuroEmuError):
    """A chip, workload or sweep file breaks a rule (names file, key path, rule, value)."""


class CapacityError(NeuroEmuError):
    """A workload does not fit the chip (too many neurons, synapses, memory)."""


class QueueError(NeuroEmuError):
    """Misuse of the event queue (an event pushed into the past, a bad backend name)."""


class RunawayError(NeuroEmuError):
    """Activity exceeded a configured limit; the partial record is attached."""

    def __init__(self, message: str, partial_record=None):
        super().__init__(message)
        self.partial_record = partial_record
