"""Importers of PyTorch checkpoints into this package's Flax parameter trees.

Each converter reads a checkpoint directory with numpy (torch is never needed
at run time), maps the weights by name and transposition, and checks every
shape against the target model before anything is replaced.
"""
