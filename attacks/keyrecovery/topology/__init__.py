"""The parts of ``pooled_generic``: learning where the bytes of an unknown permutation-plus-negation cipher
sit, from statistics pooled over many ciphertexts under one key (no knowledge of the scheme).

One module per job: :mod:`.stats` (standardised samples, correlations, relative polarity),
:mod:`.pixels` (which cipher bytes are the three channels of one pixel), :mod:`.layout` (where the
pixels sit on the grid), :mod:`.refine` (re-placing pixels and bytes by linear assignment) and
:mod:`.reading` (channel order and polarity per pixel, then the global reading chosen by a
natural-image prior learnt from the attacker's own images).
"""
