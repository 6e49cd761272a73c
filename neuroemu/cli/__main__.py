"""``python -m neuroemu.cli``: the same as the ``neuroemu`` command."""
from neuroemu.cli.app import main

main()
