"""Key recovery: against the schemes whose structure ppbench knows, the key material itself, read from
plain/cipher pairs (known plaintext, attack ``kpa``) or from many ciphertexts under one key (ciphertext
only, attack ``pooled``); against any whole-byte member of family F, a byte map from many ciphertexts
(``pooled_generic``). The registered attack classes live in :mod:`ppbench.attacks.kpa`,
:mod:`ppbench.attacks.pooled` and :mod:`ppbench.attacks.pooled_generic`.

Modules, one job each:

- :mod:`.base`: the result :class:`KeyRecovery`, the attack base :class:`KeyRecoveryAttack`, input checks,
  exactness measures (:func:`same_key`, :func:`key_agreement`), the colour tables ``CHANNEL_ORDERS`` /
  ``NEGATION_PATTERNS``;
- :mod:`.geometry`: blocks, sub-blocks, nibbles, LE's derived mask and the square's symmetries, taken
  from the scheme classes themselves;
- :mod:`.matching`: a permutation from a "consistent" bipartite graph, with the entries left open;
- :mod:`.layout`: items laid on a grid from pooled distances (MDS start, swap search, binary labelling);
- :mod:`.jigsaw`: the block jigsaw solver, with optional piece orientations;
- :mod:`.jigsaw_single`: the single-image jigsaw of attack ``jigsaw`` (Chuman and Kiya): Gallagher's MGC
  compatibility on one ciphertext, and the jigsaw papers' own metrics (Dc, Nc, Lc) for evaluation;
- :mod:`.colour`: the 48 per-pixel colour transforms and their synchronisation over the pixel grid;
- :mod:`.prior`: the natural-image prior, learnt from the attacker's own public images only;
- :mod:`.solvers`: one module per scheme family (``pixel``, ``proposed``, ``etc``, ``tanaka`` with
  ``le_reading``), each with its known-plaintext and ciphertext-only solver;
- :mod:`.known_plaintext` / :mod:`.ciphertext_only`: the per-scheme dispatch,
  :func:`recover_key_kpa` and :func:`recover_key_pooled` (and :func:`global_readings`);
- :mod:`.topology`: the parts of the generic ciphertext-only attack ``pooled_generic``, which knows no
  scheme: where the bytes of any whole-byte permutation-plus-negation cipher sit, from pooled statistics.
"""

from .base import CHANNEL_ORDERS, NEGATION_PATTERNS, KeyRecovery, KeyRecoveryAttack, as_numpy_uint8, key_agreement, same_key
from .ciphertext_only import POOLED_SCHEMES, POOLED_SOLVERS, global_readings, recover_key_pooled
from .known_plaintext import KPA_SCHEMES, SOLVERS, recover_key_kpa

__all__ = [
    "CHANNEL_ORDERS",
    "KPA_SCHEMES",
    "KeyRecovery",
    "KeyRecoveryAttack",
    "NEGATION_PATTERNS",
    "POOLED_SCHEMES",
    "POOLED_SOLVERS",
    "SOLVERS",
    "as_numpy_uint8",
    "global_readings",
    "key_agreement",
    "recover_key_kpa",
    "recover_key_pooled",
    "same_key",
]
