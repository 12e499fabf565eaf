"""The project's one user-error base class: the app and the CLI show its message; anything else is a bug."""


class AttnflowError(Exception):
    """A mistake the user can fix; the message names the fix."""
