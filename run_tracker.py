"""Track an object: ``python run_tracker.py --video seq/ --updater bdfa`` (see README)."""

import sys

from tracker.cli import main

if __name__ == "__main__":
    sys.exit(main())
