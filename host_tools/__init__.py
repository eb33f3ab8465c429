"""Laptop-side tools.  host_tools.sim is also imported by MicroPython runs: keep its imports portable."""
