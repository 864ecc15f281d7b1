#!/usr/bin/env python3
"""fb-load: the entry point of featurebench's AIPerf load pod (one load point, one trial).

    fb-load -- aiperf profile ... --artifact-dir DIR [--input-file PATH] ...

1. downloads the trace from the results store to the command's --input-file (and, for a multimodal trace,
   the images its rows name, from beside the trace in the store);
2. runs the AIPerf command it is given, its console copied to <artifact dir>/logs/fb-load-console.txt;
3. uploads the artifact folder to the trial's artifacts prefix in the store, .aiperf_results_ready.json LAST
   (the platform treats it as the completion marker), skipping inputs.json and profile_export_raw.jsonl;
4. exits with AIPerf's exit code when AIPerf failed (after uploading what it left, its log included).

Where things are on disk comes from the AIPerf command only (so the two cannot disagree); where they are in
the store comes from the environment, set by featurebench.recipes.render_load_job:

  FEATUREBENCH_ARTIFACTS_URI    required; s3://bucket/<root>/<layout.artifacts_prefix> (or file:// for tests)
  FEATUREBENCH_TRACE_URI        the trace (s3:// or file://); absent for synthetic traffic
  FEATUREBENCH_MEDIA_MODE       base64 | http, only for traces with images: AIPerf inlines local files (base64),
                                or the server fetches http://$POD_IP:$FEATUREBENCH_MEDIA_PORT/<image> from a
                                file server this script runs while AIPerf runs (http)
  FEATUREBENCH_S3_ENDPOINT_URL  a non-AWS S3 endpoint (MinIO, ...); not a secret
  AWS credentials               boto3's chain: the pod's service account (IRSA / web identity) or variables
                                from a Secret the Job names in envFrom. Never read or printed here.

Only the standard library and boto3: the image has no featurebench inside.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

READY_MARKER = ".aiperf_results_ready.json"
SKIPPED = {"inputs.json", "profile_export_raw.jsonl"}  # as featurebench.results.ingest.SKIPPED_ARTIFACTS
CONSOLE_LOG = "logs/fb-load-console.txt"
EXIT_USAGE, EXIT_TRANSFER = 2, 3


class Usage(Exception):
    pass


def _log(msg: str) -> None:
    print(f"fb-load: {msg}", flush=True)


def _flag(argv: list[str], name: str) -> str | None:
    if name in argv[:-1]:
        return argv[argv.index(name) + 1]
    return None


# --- the store: s3:// through boto3, file:// as plain copies ----------------------------------------------


class Store:
    """Copies between the pod and the results store: s3:// through boto3 (credentials from its default chain,
    never seen here), file:// as plain copies (tests, or a results folder mounted into the pod)."""

    def __init__(self, endpoint_url: str | None = None):
        self.endpoint_url = endpoint_url or None
        self._client = None

    def s3(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", endpoint_url=self.endpoint_url)
        return self._client

    def download(self, uri: str, dest: Path) -> None:
        scheme, bucket, key = _split(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if scheme == "s3":
            self.s3().download_file(bucket, key, str(dest))
        else:
            shutil.copyfile(key, dest)

    def upload(self, src: Path, uri: str) -> None:
        scheme, bucket, key = _split(uri)
        if scheme == "s3":
            self.s3().upload_file(str(src), bucket, key)  # multipart for large files
        else:
            Path(key).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(key).with_name(f".tmp-fb-load-{Path(key).name}")
            shutil.copyfile(src, tmp)
            os.replace(tmp, key)  # readers never see half a file


def _split(uri: str) -> tuple[str, str, str]:
    """(scheme, bucket or '', key or absolute path)."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3" and parsed.netloc:
        return "s3", parsed.netloc, parsed.path.lstrip("/")
    if parsed.scheme == "file":
        return "file", "", unquote(parsed.path)
    raise Usage(f"unsupported store URI {uri!r} (s3://bucket/key or file:///path)")


def upload_artifacts(store: Store, folder: Path, target: str) -> list[str]:
    """Every file under `folder` to `target`/<relative path>, the completion marker last."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in SKIPPED)
    files.sort(key=lambda p: p.name == READY_MARKER)  # stable: everything else first, in path order
    done = []
    for path in files:
        rel = path.relative_to(folder).as_posix()
        store.upload(path, f"{target.rstrip('/')}/{rel}")
        done.append(rel)
    return done


# --- the trace and its images -----------------------------------------------------------------------------


def image_names(trace: Path) -> list[str]:
    """The images the rows name (relative to the trace's folder), each once, in order."""
    names: dict[str, None] = {}
    with open(trace) as f:
        for line in f:
            if line.strip():
                names.update(dict.fromkeys(json.loads(line).get("images") or []))
    return list(names)


def rewrite_images(trace: Path, root: str) -> None:
    """Every image path made `root`/<path> (what featurebench.traces.images.absolute_media writes)."""
    tmp = trace.with_name(trace.name + ".tmp")
    with open(trace) as src, open(tmp, "w") as dst:
        for line in src:
            if not line.strip():
                continue
            row = json.loads(line)
            row["images"] = [f"{root.rstrip('/')}/{name}" for name in row.get("images", [])]
            dst.write(json.dumps(row, separators=(",", ":")) + "\n")
    os.replace(tmp, trace)


def fetch_traffic(store: Store, env: dict, input_file: Path) -> http.server.ThreadingHTTPServer | None:
    """Download the trace (and its images); for http images, start the file server. Returns that server."""
    trace_uri = env["FEATUREBENCH_TRACE_URI"]
    store.download(trace_uri, input_file)
    _log(f"trace {trace_uri} -> {input_file}")
    mode = env.get("FEATUREBENCH_MEDIA_MODE")
    if not mode:
        return None
    if mode not in ("base64", "http"):
        raise Usage(f"FEATUREBENCH_MEDIA_MODE={mode!r}: base64 or http")
    names = image_names(input_file)
    base = trace_uri.rsplit("/", 1)[0]  # images sit beside the trace, as under include/traces
    for name in names:
        store.download(f"{base}/{name}", input_file.parent / name)
    _log(f"{len(names)} images -> {input_file.parent} ({mode})")
    if mode == "base64":  # AIPerf opens the files itself: absolute paths, independent of its working dir
        rewrite_images(input_file, str(input_file.parent))
        return None
    host, port = env.get("POD_IP"), int(env.get("FEATUREBENCH_MEDIA_PORT", "8080"))
    if not host:
        raise Usage("FEATUREBENCH_MEDIA_MODE=http needs POD_IP (the downward API's status.podIP)")
    handler = functools.partial(_QuietHandler, directory=str(input_file.parent))
    server = http.server.ThreadingHTTPServer((host, port), handler)  # the pod's own address only
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rewrite_images(input_file, f"http://{host}:{server.server_address[1]}")
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # thousands of image GETs would drown AIPerf's console
        pass


# --- the run ----------------------------------------------------------------------------------------------


def run_aiperf(argv: list[str], log_path: Path) -> int:
    """Run the command; its console goes to our stdout (kubectl logs) and to `log_path` (uploaded)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        except OSError as exc:
            log.write(f"cannot start {argv[0]}: {exc}\n")
            _log(f"cannot start {argv[0]}: {exc}")
            return 127
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        return proc.wait()


def main(argv: list[str] | None = None, env: dict | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if env is None else env)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    try:
        if not argv:
            raise Usage("usage: fb-load -- aiperf profile ... --artifact-dir DIR")
        target = env.get("FEATUREBENCH_ARTIFACTS_URI") or ""
        artifact_dir = _flag(argv, "--artifact-dir")
        if not target or not artifact_dir:
            raise Usage("needs FEATUREBENCH_ARTIFACTS_URI and an --artifact-dir in the command")
        _split(target)
        input_file = _flag(argv, "--input-file")
        if bool(env.get("FEATUREBENCH_TRACE_URI")) != bool(input_file):
            raise Usage("FEATUREBENCH_TRACE_URI and the command's --input-file come together")
    except Usage as exc:
        _log(str(exc))
        return EXIT_USAGE

    store = Store(env.get("FEATUREBENCH_S3_ENDPOINT_URL"))
    artifacts = Path(artifact_dir)
    artifacts.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        if input_file:
            server = fetch_traffic(store, env, Path(input_file))
    except Exception as exc:  # noqa: BLE001 - the message (no credentials in it) is the pod's last word
        _log(f"could not fetch the traffic: {type(exc).__name__}: {exc}")
        return EXIT_USAGE if isinstance(exc, Usage) else EXIT_TRANSFER

    try:
        rc = run_aiperf(argv, artifacts / CONSOLE_LOG)
    finally:
        if server is not None:
            server.shutdown()
    _log(f"aiperf exited with {rc}; uploading {artifacts} -> {target}")
    try:
        uploaded = upload_artifacts(store, artifacts, target)
    except Exception as exc:  # noqa: BLE001
        _log(f"upload failed: {type(exc).__name__}: {exc}")
        return rc or EXIT_TRANSFER
    _log(f"uploaded {len(uploaded)} files" + ("" if READY_MARKER in uploaded else f" (no {READY_MARKER})"))
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
