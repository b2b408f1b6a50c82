"""The one schema of the harness: every record that measuring writes and analysing reads."""

from .schema import *  # noqa: F401,F403 - temporary while the module becomes a package
