"""The one exception type looplab raises for problems a user must fix.

Its message is a single line naming the file or field and what is wrong; the CLI
prints it and exits non-zero without a traceback.
"""


class LooplabError(Exception):
    """A user-facing error: bad input, missing tool, failed build step."""
