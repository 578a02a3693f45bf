"""`python -m fieldapp.cli`: the `fieldapp` command."""

from fieldapp.cli import console

console()
