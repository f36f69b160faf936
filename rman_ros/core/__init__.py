"""RMAN tracker core (pure Python + PyTorch, no ROS imports)."""

from .config import RMANConfig
from .tracker import RMANTracker

__all__ = ["RMANConfig", "RMANTracker"]
