"""Scoring tracker output against ground truth, and adapters for evaluation toolkits."""
