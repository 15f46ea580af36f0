"""Widgets: panels, time plots (braille), the event log, the snapshot view that holds them."""
