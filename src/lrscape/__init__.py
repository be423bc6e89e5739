"""lrscape: what a learning rate does to training, simulated on synthetic loss landscapes."""

from . import landscapes

__version__ = "0.1.0"
