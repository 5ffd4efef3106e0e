"""``python -m dispatcher`` is the ``vox-dispatch`` command."""

from dispatcher.cli import entry_point

entry_point()
