"""Learnable image encryption schemes (one family per module)."""
