"""Imported by the VOT toolkit's ``traxpython`` protocol (``command = tracker.integrations.vot_traxpython``),
which starts a tracker by importing a module: importing this one runs the TraX server. Options come from
``BDFA_VOT_ARGS`` (``env_BDFA_VOT_ARGS = --updater bp`` in trackers.ini)."""

import sys

from tracker.integrations.vot import main

sys.exit(main())
