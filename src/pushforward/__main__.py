"""``python -m pushforward``: the same CLI as the ``pushforward`` command, for environments
whose scripts folder is not on PATH."""

from pushforward.cli import run

run()
