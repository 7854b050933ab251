"""Attacks that try to restore plain images from ciphertexts (one per module)."""
