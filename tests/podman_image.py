"""Build and run docker/aiperf with podman, as root, on a base image made here (debootstrap minbase + python3).

Everything podman keeps lives under .work/podman (its own storage, run dir and containers.conf, handed over via
CONTAINERS_CONF / CONTAINERS_STORAGE_CONF), so a re-run reuses the base and the built image and nothing touches
the machine's podman set-up. Pitfalls of this machine handled here: crun fails on its hybrid cgroups (runc is
used), explicit ulimits (nofile 20000, nproc 32768) instead of the host's, and host networking only (podman's
default bridge sits in a private address range; nothing here listens beyond loopback).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE_DIR = REPO / "docker" / "aiperf"
WORK = REPO / ".work" / "podman"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ["python3", "python3-pip", "ca-certificates"]
TOOLS = ["podman", "runc", "debootstrap"]

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "host"
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def unavailable() -> str | None:
    """Why the image cannot be built here, or None."""
    if os.geteuid() != 0:
        return "building with podman and debootstrap needs root (scripts/setup.sh installs them as root)"
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        return f"{', '.join(missing)} not installed (scripts/setup.sh installs podman, buildah, runc, debootstrap with apt)"
    return None


def env() -> dict[str, str]:
    """The environment every podman call gets: this module's config and storage, nothing of the host's."""
    WORK.mkdir(parents=True, exist_ok=True)
    conf, storage = WORK / "containers.conf", WORK / "storage.conf"
    conf.write_text(CONTAINERS_CONF)
    # overlay: a layer is a diff (vfs copies the whole tree per layer: ~20 min of copying for this image)
    storage.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{WORK / "storage"}"\nrunroot = "{WORK / "run"}"\n')
    return {**os.environ, "CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}


def podman(*args: str, check: bool = True, timeout: float = 1800, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", "--runtime", "runc", *args], env=env(), check=check, timeout=timeout,
                          text=True, capture_output=True, **kwargs)


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0


def base_image() -> str:
    """localhost/fb-base:<suite>-<hash>: debootstrap minbase + python3 and pip, with this machine's CA bundle
    (pip reaches PyPI through it) and pip allowed to install into the system Python (it is the image's)."""
    key = hashlib.sha256(f"{SUITE} {MIRROR} {BASE_PACKAGES}".encode()).hexdigest()[:12]
    ref = f"localhost/fb-base:{SUITE}-{key}"
    if image_exists(ref):
        return ref
    tarball = WORK / f"base-{key}.tar"
    if not tarball.exists():
        rootfs = WORK / f"rootfs-{key}"
        shutil.rmtree(rootfs, ignore_errors=True)
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE,
                        str(rootfs), MIRROR], check=True, capture_output=True, timeout=1800)
        shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/ca-certificates.crt")
        for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        for cache in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            cache.unlink()
        tmp = tarball.with_suffix(".tmp")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tmp), "."], check=True, timeout=600)
        tmp.replace(tarball)
        shutil.rmtree(rootfs)
    podman("import", str(tarball), ref)
    return ref


def content_tag(base: str) -> str:
    """The load image's tag: a hash of what goes into it (Dockerfile, entry point, base), so an unchanged image
    is never rebuilt."""
    digest = hashlib.sha256(base.encode())
    for path in sorted(IMAGE_DIR.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"localhost/featurebench-aiperf:{digest.hexdigest()[:16]}"


def build() -> tuple[str, float]:
    """The load image, built if its content tag is missing; (ref, seconds spent building, 0 when cached)."""
    base = base_image()
    ref = content_tag(base)
    if image_exists(ref):
        return ref, 0.0
    started = time.monotonic()
    podman("build", "--network=host", "--build-arg", f"BASE_IMAGE={base}", "-t", ref, str(IMAGE_DIR), timeout=3600)
    return ref, time.monotonic() - started


def run(ref: str, argv: list[str], *, environment: dict[str, str], mounts: list[tuple[Path, str, bool]] = (),
        entrypoint: str | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """`podman run --network=host` of the image's entry point (or `entrypoint`) with argv, as the image's own user
    (1000) like a pod; mounts are (host path, container path, read-only)."""
    args = ["run", "--rm", "--network=host", *(["--entrypoint", entrypoint] if entrypoint else [])]
    for host, target, read_only in mounts:
        args += ["-v", f"{host}:{target}:{'ro' if read_only else 'rw'}"]
    for key, value in environment.items():
        args += ["-e", f"{key}={value}"]
    return podman(*args, ref, *argv, check=False, timeout=timeout)
