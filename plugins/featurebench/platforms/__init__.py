"""Platforms: where an arm is deployed and loaded (`local`, `kubernetes/`), behind one protocol (`base`). Both
produce AIPerf artifact folders; ingestion is shared."""

from featurebench.platforms.base import Platform


def get_platform(name: str) -> Platform:
    if name == "local":
        from featurebench.platforms.local import LocalPlatform

        return LocalPlatform()
    if name == "kubernetes":
        from featurebench.platforms.kubernetes import KubernetesPlatform

        return KubernetesPlatform()
    raise ValueError(f"unknown platform {name!r}: choose local or kubernetes")


__all__ = ["Platform", "get_platform"]
