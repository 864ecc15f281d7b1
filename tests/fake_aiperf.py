"""A stand-in for `aiperf profile` in tests of the load pod's entry point (docker/aiperf/fb_load.py):

    python tests/fake_aiperf.py RECORDED_DIR [EXIT_CODE] profile ... --artifact-dir DIR [--input-file PATH] ...

copies a recorded AIPerf artifact folder into --artifact-dir and exits with EXIT_CODE (default 0). It checks
what the real AIPerf would need: the --input-file exists and every image a row names can be opened (a local
file for base64, an http URL the engine would fetch); what it saw goes to <artifact dir>/fake-aiperf-seen.json."""

from __future__ import annotations

import json
import shutil
import sys
import urllib.request
from pathlib import Path

IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff")  # the generators' PNG (noise) and JPEG (photo) images


def main(argv: list[str]) -> int:
    recorded, rest = Path(argv[0]), argv[1:]
    code = int(rest.pop(0)) if rest and rest[0].isdigit() else 0
    artifact_dir = Path(rest[rest.index("--artifact-dir") + 1])
    seen: dict = {"argv": rest, "images": 0}
    if "--input-file" in rest:
        trace = Path(rest[rest.index("--input-file") + 1])
        rows = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
        seen["rows"] = len(rows)
        for image in dict.fromkeys(name for row in rows for name in row.get("images", [])):
            if image.startswith("http://"):
                with urllib.request.urlopen(image, timeout=10) as r:
                    assert r.status == 200 and r.read(8).startswith(IMAGE_MAGIC), image
            else:
                assert Path(image).is_absolute() and Path(image).read_bytes()[:8].startswith(IMAGE_MAGIC), image
            seen["images"] += 1
            seen.setdefault("first_image", image)
    shutil.copytree(recorded, artifact_dir, dirs_exist_ok=True)
    (artifact_dir / "fake-aiperf-seen.json").write_text(json.dumps(seen))
    print(f"fake aiperf: {seen.get('rows', 0)} rows, {seen['images']} images, exit {code}")
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
