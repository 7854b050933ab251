"""Early stopping for the learned attacks: train until a validation measure stops improving, with a cap.

An attack trained for a fixed small number of steps may stop long before it has learned what it can, and a
verdict of "secure" from it says little. :class:`EarlyStopping` runs epochs until the validation measure
(lower is better: a loss) has not improved by more than ``min_delta`` for ``patience`` epochs
(``"converged"``), or until ``max_epochs`` (``"cap"``, still improving within its patience); with
``patience=None`` it runs exactly ``max_epochs`` (``"fixed"``, the ``smoke`` profile). It keeps the state of
the epoch with the lowest measure (ties: the later epoch). :func:`summarise` turns it into the record's
fields, with ``reduced``: training was cut by a budget (``"cap"`` or ``"fixed"``) before reaching the original
attack's number of optimiser steps, so the attack may be weaker than the original.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator

STOP_REASONS = ("converged", "cap", "fixed")


class EarlyStopping:
    """Patience-based stopping on a validation measure (lower is better), capped at ``max_epochs``.

    ``patience``: epochs without an improvement of more than ``min_delta`` (below the best so far) after which
    training stops; None: run exactly ``max_epochs``. ``min_epochs``: patience cannot stop training before
    this epoch (e.g. a step schedule's last learning-rate drop). Use::

        stopper = EarlyStopping(max_epochs=100, patience=10)
        for epoch in stopper.epochs():
            ...  # train one epoch
            stopper.update(val_loss, lambda: copy.deepcopy(net.state_dict()))
        net.load_state_dict(stopper.best_state)
    """

    def __init__(self, max_epochs: int, patience: int | None = None, min_delta: float = 0.0, min_epochs: int = 0) -> None:
        if int(max_epochs) < 1:
            raise ValueError(f"max_epochs must be at least 1, got {max_epochs}")
        if patience is not None and int(patience) < 1:
            raise ValueError(f"patience must be at least 1 (or None for a fixed number of epochs), got {patience}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.max_epochs, self.min_delta, self.min_epochs = int(max_epochs), float(min_delta), int(min_epochs)
        self.patience = None if patience is None else int(patience)
        self.epochs_run = 0
        self.best = math.inf  # the lowest measure seen (its state is kept)
        self.best_epoch = 0
        self.best_state: Any = None
        self._reference = math.inf  # the last measure that counted as an improvement (by more than min_delta)
        self._since = 0  # epochs since that improvement
        self.stopped: str | None = None

    def epochs(self) -> Iterator[int]:
        """Epoch numbers 1, 2, ... until :meth:`update` says stop; every epoch must call :meth:`update` once."""
        while self.stopped is None:
            epoch = self.epochs_run + 1
            yield epoch
            if self.epochs_run != epoch:
                raise RuntimeError(f"EarlyStopping.update was not called in epoch {epoch}")

    def update(self, value: float | None, state: Callable[[], Any] | None = None) -> bool:
        """Record one epoch's measure (None: no validation, the last state counts as the best); ``state`` makes
        a copy of what to keep, called only when this epoch is the best so far. Returns whether to stop."""
        self.epochs_run += 1
        epoch = self.epochs_run
        if value is None:  # nothing to validate on: the last epoch is the one kept
            self.best_epoch = epoch
            self.best_state = state() if state is not None else None
        else:
            value = float(value)
            if value <= self.best:  # NaN never compares true: never the best, never an improvement
                self.best, self.best_epoch = value, epoch
                self.best_state = state() if state is not None else None
            if value < self._reference - self.min_delta:
                self._reference, self._since = value, 0
            else:
                self._since += 1
        if self.patience is not None and value is not None and self._since >= self.patience and epoch >= self.min_epochs:
            self.stopped = "converged"
        elif epoch >= self.max_epochs:
            self.stopped = "fixed" if self.patience is None else "cap"
        return self.stopped is not None

    def summary(self) -> dict[str, Any]:
        """``epochs_run``, ``best_epoch`` (the epoch whose state is kept) and ``stopped``."""
        return {"epochs_run": self.epochs_run, "best_epoch": self.best_epoch, "stopped": self.stopped}


def summarise(stopper: EarlyStopping, *, steps_run: int, original_steps: int) -> dict[str, Any]:
    """The record's training fields: the stopper's, ``steps_run`` (optimiser steps taken), ``original_steps`` (the
    original attack's) and ``reduced``: stopped by a budget (``"cap"`` or ``"fixed"``) before ``original_steps``.
    An attack that converged (patience ran out) is not reduced, however few its steps: it stopped improving."""
    steps = int(steps_run)
    return {**stopper.summary(), "steps_run": steps, "original_steps": int(original_steps),
            "reduced": stopper.stopped != "converged" and steps < int(original_steps)}


class StoppedTraining:
    """Mixin for an :class:`~ppbench.attacks.Attack` trained with :class:`EarlyStopping`: keeps the summary of
    its last fit (:meth:`training_summary`) and carries it in its checkpoint."""

    training: dict[str, Any] | None = None

    def training_summary(self) -> dict[str, Any]:
        """``epochs_run``, ``best_epoch``, ``stopped``, ``steps_run``, ``original_steps``, ``reduced``; {} before a fit."""
        return dict(self.training or {})

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()  # type: ignore[misc]
        if self.training:
            state["training"] = dict(self.training)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> Any:
        out = super().load_state_dict(state)  # type: ignore[misc]
        self.training = dict(state["training"]) if state.get("training") else None
        return out
