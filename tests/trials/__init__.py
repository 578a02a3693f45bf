"""Trials that try to break the app: kills at random moments, bad input, request floods."""
