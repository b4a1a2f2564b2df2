"""Sweep definitions, one file each (loaded by path by ``launch.run``)."""
