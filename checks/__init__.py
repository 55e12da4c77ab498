"""Checks, one module per capability."""
