"""Measurements (accuracy, speed, update cost) printed as tables and saved as JSON."""
