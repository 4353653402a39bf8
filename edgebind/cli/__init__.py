"""Command-line interface; nothing in the library imports it."""
