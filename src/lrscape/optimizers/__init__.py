"""Sweepable optax optimizers: a registry of names, and any optax factory on request.

>>> import lrscape
>>> lrscape.optimizers.available()
('adagrad', 'adam', 'adamw', 'lion', 'momentum', 'nesterov', 'rmsprop', 'sgd')
"""

from .registry import Optimizer, available, from_factory, get, inject

__all__ = ["Optimizer", "available", "from_factory", "get", "inject"]
