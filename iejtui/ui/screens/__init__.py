"""Screens: dashboard, runs, run (history), engines, help."""
