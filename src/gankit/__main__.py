"""``python -m gankit``: the command line (what torchrun's ``-m gankit`` starts in every process)."""
import sys

from gankit.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
