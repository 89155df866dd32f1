"""How the command line reports a problem: the message alone, and exit status 2."""

import os
import sys


class CommandLineError(SystemExit):
    """A problem with what was asked of ``kgen``: printed as ``kgen: error: <message>``.

    A `SystemExit` whose exit status is 2 (as argparse's own errors), whose text is the
    message; `kgen.cli.main` prints it before leaving, so the user sees one line that says
    what is wrong and how to fix it, never a traceback.
    """

    def __init__(self, message):
        super().__init__(2)
        self.message = str(message)

    def __str__(self):
        return self.message


def fail(message):
    """Raises `CommandLineError` with ``message``."""
    raise CommandLineError(message)


def report(error):
    """Prints ``error`` as the command line does."""
    print(f"kgen: error: {error}", file=sys.stderr, flush=True)


def check_writable(path, flag):
    """Fails unless files can be written at ``path`` (a file or a folder to be made):
    its nearest existing folder must be a writable folder, not a file."""
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        fail(f"{flag} {path!r}: {parent!r} is a file, so nothing can be written under it; "
             "choose another path.")
    if not os.access(parent, os.W_OK):
        fail(f"{flag} {path!r}: the folder {parent!r} is not writable; choose another path.")
