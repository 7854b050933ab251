"""Network registry: classifiers and the adaptation networks some schemes need."""
