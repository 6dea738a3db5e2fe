"""`python -m vitalskills`: the command line, for child processes started by the CLI itself."""

from vitalskills.cli import main

main()
