"""Key solvers, one module per scheme family of :mod:`ppbench.schemes`: :mod:`.pixel` (PE, PE-NP),
:mod:`.proposed`, :mod:`.etc` (EtC) and :mod:`.tanaka` (LE, ELE; LE's ciphertext-only key reading is in
:mod:`.le_reading`). Each family module holds its known-plaintext solver (``kpa_*``: plain and cipher
images -> key) and its ciphertext-only one (``pooled_*``: ciphertexts, optionally a natural-image prior -> key).
"""
