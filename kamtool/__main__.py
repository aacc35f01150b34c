"""`python -m kamtool` runs the command line."""

from kamtool.cli.main import run

if __name__ == "__main__":
    run()
