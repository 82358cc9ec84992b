"""Writes the image-preprocessing parity fixtures from OpenAI's own `_transform`.

Generates a set of small test images covering every Pillow mode CLIP's pipeline meets
(RGB, L, LA, RGBA, P with and without transparency, 1-bit, 16-bit grayscale/RGB/LA, CMYK
JPEG, GIF, WebP, BMP), odd sizes, images smaller than the crop, panoramas, and an EXIF
rotation tag, into tests/fixtures/images/. Then runs `clip.clip._transform(n)` on each and
writes tests/fixtures/preprocess/reference.npz:

  rgb:NAME@N      uint8 [N, N, 3]  after Resize → CenterCrop → convert("RGB")
  pixels:NAME@N   float32 [3, N, N] the full transform (for a few images)
  decoded:NAME    the file as Pillow decodes it (np.asarray in its own mode; P as its RGB,
                  1 as 0/255)
  mode:NAME       Pillow's mode, as bytes

Run from the repository root: .venv/bin/python tests/reference/preprocess_fixtures.py
"""

import io
import os

import numpy as np
import PIL
from PIL import Image
from torchvision.transforms import Compose

from clip.clip import _transform

ROOT = os.path.join(os.path.dirname(__file__), "..", "fixtures")
IMAGES = os.path.join(ROOT, "images")
OUT = os.path.join(ROOT, "preprocess")
RESOLUTIONS = [224, 288, 336, 384, 448]  # the nine models use these
ALL_RESOLUTIONS = {"photo.png", "rgba.png"}
FULL_TRANSFORM = {"photo.png", "rgba.png", "gray16.png"}

rng = np.random.default_rng(20261123)


def scene(w, h, channels=3):
    """A smooth scene with edges and mild noise: exercises every filter tap."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        f = 0.5 + 0.25 * np.sin(x / (7 + 5 * c) + c) * np.cos(y / (11 + 3 * c))
        f += 0.2 * ((x // (w / 5 + 1) + y // (h / 4 + 1) + c) % 2)
        planes.append(f)
    img = np.stack(planes, -1) + rng.normal(0, 0.01, (h, w, channels))
    return np.clip(img, 0, 1)


def u8(a):
    return np.round(a * 255).astype(np.uint8)


def make_images():
    os.makedirs(IMAGES, exist_ok=True)
    files = {}

    def save(name, im, **kw):
        path = os.path.join(IMAGES, name)
        im.save(path, **kw)
        files[name] = path

    photo = Image.fromarray(u8(scene(400, 260)))
    save("photo.png", photo)
    save("photo.jpg", photo, quality=90)  # 4:2:0 chroma subsampling
    save("photo_444.jpg", photo, quality=95, subsampling=0)
    save("photo_422.jpg", photo, quality=85, subsampling=1)
    save("progressive.jpg", photo, quality=80, progressive=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° — the reference does not apply it
    save("exif_rotated.jpg", photo.crop((0, 0, 200, 120)), quality=90, exif=exif)

    gray = Image.fromarray(u8(scene(301, 199, 1)[..., 0]))
    save("gray.png", gray)
    save("gray.jpg", gray, quality=90)

    la = np.dstack([u8(scene(180, 260, 1)[..., 0]), u8(scene(180, 260, 1)[..., 0] ** 2)])
    save("la.png", Image.fromarray(la))

    rgba = u8(scene(257, 181, 4))
    alpha = rgba[..., 3].astype(np.float64)
    alpha[:, :90] = 0  # a fully transparent band, a half-transparent band, opaque rest
    alpha[:, 90:150] *= 0.5
    rgba[..., 3] = alpha.astype(np.uint8)
    save("rgba.png", Image.fromarray(rgba))

    pal = photo.resize((150, 97)).quantize(64)
    save("palette.png", pal)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 3
    save("palette_trns.png", pal_t, transparency=3)
    save("palette.gif", pal)

    rgb_t = Image.fromarray(u8(scene(90, 70)))
    save("rgb_trns.png", rgb_t, transparency=(10, 20, 30))

    save("bilevel.png", gray.resize((99, 61)).convert("1"))

    g16 = (scene(120, 90, 1)[..., 0] * 65535).astype(np.uint16)
    save("gray16.png", Image.fromarray(g16))
    low = (scene(64, 80, 1)[..., 0] * 300).astype(np.uint16)  # mostly ≤ 255
    save("gray16_low.png", Image.fromarray(low))

    cmyk = Image.frombytes("CMYK", (200, 150), u8(scene(200, 150, 4)).tobytes())
    save("cmyk.jpg", cmyk, quality=92)

    save("tiny.png", Image.fromarray(u8(scene(5, 3))))
    save("one.png", Image.fromarray(u8(scene(1, 1))))
    save("panorama.png", Image.fromarray(u8(scene(1200, 40))))
    save("tall.png", Image.fromarray(u8(scene(40, 700))))
    save("exact.png", Image.fromarray(u8(scene(224, 224))))
    save("odd_crop.png", Image.fromarray(u8(scene(227, 224))))
    save("upscale.png", Image.fromarray(u8(scene(150, 97))))
    save("lossless.webp", Image.fromarray(u8(scene(130, 110))), lossless=True)
    save("photo.bmp", Image.fromarray(u8(scene(70, 50))))

    # 16-bit RGB / LA PNGs: Pillow cannot write them, so build them by hand.
    files["rgb16.png"] = write_png16(os.path.join(IMAGES, "rgb16.png"), scene(80, 60), 2)
    files["la16.png"] = write_png16(os.path.join(IMAGES, "la16.png"), scene(60, 80, 2), 4)
    return files


def write_png16(path, img, color_type):
    import struct
    import zlib

    h, w, c = img.shape
    data = (img * 65535).astype(">u2")
    raw = b"".join(b"\x00" + data[y].tobytes() for y in range(h))

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9))
    png += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)
    return path


def decoded(im):
    """The pixels as Pillow decoded them, in the layout the Rust side holds them."""
    if im.mode == "P":  # held as the RGB its palette gives (what convert("RGB") yields)
        return np.asarray(im.convert("RGB"))
    if im.mode == "1":
        return np.asarray(im).astype(np.uint8) * 255
    return np.asarray(im)


def main():
    files = make_images()
    os.makedirs(OUT, exist_ok=True)
    arrays = {}
    for name, path in sorted(files.items()):
        with Image.open(path) as im:
            im.load()
            arrays[f"mode:{name}"] = np.frombuffer(im.mode.encode(), np.uint8)
            arrays[f"decoded:{name}"] = decoded(im)
            for n in RESOLUTIONS if name in ALL_RESOLUTIONS else [224]:
                full = _transform(n)
                to_rgb = Compose(full.transforms[:3])
                rgb = np.asarray(to_rgb(im))
                assert rgb.shape == (n, n, 3) and rgb.dtype == np.uint8, (name, rgb.shape)
                arrays[f"rgb:{name}@{n}"] = rgb
                if name in FULL_TRANSFORM and n == 224:
                    arrays[f"pixels:{name}@{n}"] = full(im).numpy()
    np.savez_compressed(os.path.join(OUT, "reference.npz"), **arrays)
    with open(os.path.join(OUT, "versions.txt"), "w") as f:
        import torchvision

        f.write(f"Pillow {PIL.__version__}\ntorchvision {torchvision.__version__}\n")
    print(f"{len(files)} images, {len(arrays)} arrays")
    for name in sorted(files):
        print(f"  {name:20s} {arrays[f'mode:{name}'].tobytes().decode():5s} {os.path.getsize(files[name]):7d} bytes")


if __name__ == "__main__":
    main()
