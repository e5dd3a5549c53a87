"""``python -m wscli``: the command line."""

from .cli import main

main()
