"""ppbench: what "learnable" image encryption really protects, measured side by side."""

__version__ = "0.1.0"
