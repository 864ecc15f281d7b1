"""Platforms: where an arm is deployed and loaded (`local`, `kubernetes/`), behind one protocol (`base`). Both
produce AIPerf artifact folders; ingestion is shared."""

from featurebench.platforms.base import Platform, get_platform

__all__ = ["Platform", "get_platform"]
