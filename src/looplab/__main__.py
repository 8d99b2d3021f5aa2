"""``python -m looplab`` runs the CLI."""

from looplab.cli import main

main()
