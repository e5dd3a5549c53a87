"""``python -m wscli.loadgen --echo-server``: the embedded echo server's process."""

import sys

from .echo import main

main(sys.argv[1:])
