"""Adapters that let other evaluation tools drive the tracker (the VOT toolkit over TraX)."""
