"""``python -m bce_grad ...`` is ``bce-grad ...``."""
import sys

from bce_grad.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
