"""Photo-like JPEG images, rendered deterministically (nothing downloaded): the stand-in for COCO photographs.

The published Qwen3-VL run sends COCO val2017 photos (mostly 640 px on the long side, ~640 x 480). What the
vision encoder costs depends on the pixel count, and what the embedding cache saves on it, so sizes follow
COCO's spread of shapes (`COCO_SIZES`: the common COCO dimensions, landscape about three in four, weights rounded
by hand - an approximation, not a measurement). Content has the structure of a photo rather than noise: a sky
gradient, a horizon of fractal (1/f) terrain, a few shaded objects, and fine texture, so JPEG compresses it
like a photo (~40-90 KB, near COCO's ~160 KB average at quality 90) and it is not trivially compressible.

Every random draw comes from SHAKE-256 of "seed:key:<part>" (stable across Python and numpy releases). The
pixels go through numpy's FFT, so their checksum (`pixels_sha256`, recorded in the trace manifest) is the check
that another machine rendered the same images.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# (width, height, weight): common COCO 2017 image shapes, long side 640 for most
COCO_SIZES = [
    (640, 480, 34), (640, 427, 20), (480, 640, 10), (427, 640, 7), (640, 426, 6), (640, 424, 5),
    (500, 375, 4), (640, 360, 4), (612, 612, 3), (375, 500, 3), (424, 640, 2), (640, 512, 2),
]
QUALITY = 90


def _uniform(seed: int, key: str, part: str, n: int):
    import numpy as np

    raw = hashlib.shake_256(f"{seed}:{key}:{part}".encode()).digest(4 * n)
    return np.frombuffer(raw, dtype="<u4").astype(np.float64) / 2**32


def size_for(seed: int, key: str) -> tuple[int, int]:
    pick = _uniform(seed, key, "size", 1)[0] * sum(w for _, _, w in COCO_SIZES)
    for width, height, weight in COCO_SIZES:
        pick -= weight
        if pick < 0:
            return width, height
    return COCO_SIZES[-1][:2]


def _fractal(seed: int, key: str, part: str, shape: tuple[int, ...], beta: float):
    """1/f^beta noise normalised to [0, 1]: white noise from the hash, shaped in the frequency domain."""
    import numpy as np

    white = _uniform(seed, key, part, int(np.prod(shape))).reshape(shape) - 0.5
    freqs = [np.fft.fftfreq(n) for n in shape]
    radius = np.sqrt(sum(f**2 for f in np.meshgrid(*freqs, indexing="ij")))
    radius[(0,) * len(shape)] = 1.0
    field = np.real(np.fft.ifftn(np.fft.fftn(white) / radius**beta))
    return (field - field.min()) / (np.ptp(field) or 1.0)


def _upscaled(field, width: int, height: int):
    """A coarse field resized to (height, width) bilinearly: the fractal is computed at a quarter of the size."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.fromarray(field.astype(np.float32), "F").resize((width, height), Image.BILINEAR),
                      dtype=np.float64)


def pixels(seed: int, key: str):
    """The (height, width, 3) uint8 numpy array of the picture for (seed, key)."""
    import numpy as np

    width, height = size_for(seed, key)
    u = _uniform(seed, key, "scene", 64)
    y = np.linspace(0.0, 1.0, height)[:, None]
    x = np.linspace(0.0, 1.0, width)[None, :]
    sky_top, sky_low = np.array([0.25, 0.45, 0.85]) * (0.6 + 0.4 * u[0]), np.array([0.8, 0.85, 0.95])
    img = sky_top + (sky_low - sky_top) * y[..., None] ** 0.8 + np.zeros((height, width, 3))
    horizon = 0.35 + 0.3 * u[1] + 0.25 * (_fractal(seed, key, "ridge", (width,), 1.6) - 0.5)
    ground = y >= horizon[None, :]
    terrain = np.array([0.3 + 0.4 * u[2], 0.45 + 0.3 * u[3], 0.2 + 0.2 * u[4]])
    texture = _upscaled(_fractal(seed, key, "ground", (height // 4, width // 4), 1.2), width, height)
    shade = (0.55 + 0.45 * texture)[..., None] * (0.6 + 0.4 * y[..., None])
    img = np.where(ground[..., None], terrain * shade, img)
    for i in range(3 + int(u[5] * 5)):  # objects: shaded ellipses and boxes in front of the horizon
        cx, cy, r = u[6 + 4 * i], 0.45 + 0.5 * u[7 + 4 * i], 0.05 + 0.2 * u[8 + 4 * i]
        colour = np.array([u[9 + 4 * i], u[(10 + 4 * i) % 64], u[(11 + 4 * i) % 64]])
        dx, dy = (x - cx) / r, (y - cy) / (r * width / height)
        mask = (dx**2 + dy**2 <= 1.0) if i % 2 == 0 else ((abs(dx) <= 0.8) & (abs(dy) <= 1.0))
        light = np.clip(1.0 - 0.5 * (dx + dy), 0.35, 1.3)
        img = np.where(mask[..., None], colour * (light * (0.8 + 0.4 * texture))[..., None], img)
    grain = _uniform(seed, key, "grain", height * width).reshape(height, width) - 0.5  # sensor noise
    img = np.clip(img + 0.03 * grain[..., None], 0.0, 1.0)
    return (img * 255.0 + 0.5).astype(np.uint8)


def render(path: Path, seed: int, key: str) -> str:
    """Write the JPEG for (seed, key); returns the sha256 of its pixels."""
    from PIL import Image

    data = pixels(seed, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(data, "RGB").save(tmp, format="JPEG", quality=QUALITY)
    tmp.replace(path)
    return hashlib.sha256(data.tobytes()).hexdigest()  # = pixel_sha256(seed, key)


def combined_sha256(hashes: dict[str, str]) -> str:
    """One checksum over every picture's pixel checksum, in key order (what the trace manifest records)."""
    return hashlib.sha256("".join(f"{k}:{h}\n" for k, h in sorted(hashes.items())).encode()).hexdigest()



def pixel_sha256(seed: int, key: str) -> str:
    """The checksum of a picture's pixels, recomputed from (seed, key) (a JPEG file decodes lossily)."""
    return hashlib.sha256(pixels(seed, key).tobytes()).hexdigest()
