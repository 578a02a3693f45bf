"""`python -m fieldapp.cli`: the `fieldapp` command."""

from fieldapp.cli import console

if __name__ == "__main__":
    console()
