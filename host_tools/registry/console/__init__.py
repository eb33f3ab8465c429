"""The registry's web console (routes.py)."""
