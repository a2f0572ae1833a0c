"""One-off studies: each measures one question and writes the tables and figures its results/<study>/README.md cites.

Run from the repository root (``python -m studies.update_cost``); the harness they build on is
``tracker.evaluation`` (``otb_ope``, ``paired``, ``speed``, ``memory``)."""
