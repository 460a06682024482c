"""drillkit: game-days, triage and rollback evidence for AI services run as infrastructure."""

__version__ = "0.1.0"

__all__ = ["__version__"]
