"""``python -m bench [--quick] --out DIR`` (the same as ``hutong bench``)."""

import sys

from hutong.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
