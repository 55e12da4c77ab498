"""The virtual test bench."""
