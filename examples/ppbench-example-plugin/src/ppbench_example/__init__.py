"""An example ppbench plugin: schemes ``pixperm`` and ``rowshift`` and the attack ``mean_image``.

ppbench loads :mod:`ppbench_example.schemes` and :class:`ppbench_example.attacks.MeanImage` through the
entry points in ``pyproject.toml``; nothing here is imported by ppbench itself.
"""

__version__ = "0.1.0"
