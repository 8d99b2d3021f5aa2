"""``python -m looplab.measure``: the ``looplab measure`` commands without the rest of the CLI."""

from looplab.measure.cli import main

main()
