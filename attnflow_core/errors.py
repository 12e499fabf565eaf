"""The project's user-error base class (the app and the CLI show its message; anything else is a bug) and the one
error of a setting that is out of range or unknown."""


class AttnflowError(Exception):
    """A mistake the user can fix; the message names the fix."""


class SettingsError(AttnflowError, ValueError):
    """A setting is out of range or unknown; the message names the valid values."""
