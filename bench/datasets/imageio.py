"""Shared file helpers for the folder formats: strict readers, atomic writers, fingerprints.

Readers turn every way a file can be wrong (missing, not an image, truncated, wrong mode,
wrong dtype) into a `DataError(path, problem)`, so the CLI can print one line naming the file.

Truncated PNGs: PIL only notices them when decoding, and not at all when some library has set
`ImageFile.LOAD_TRUNCATED_IMAGES = True` (it then pads with grey). So PNGs are `verify()`-ed
first (walks every chunk and checks its CRC, without decoding) and then decoded.

Writers go through a temporary file in the same folder and `os.replace`, so an interrupted
write never leaves half a PNG under the final name.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from bench import atomic
from bench.errors import DataError

IMAGE_EXTS = (".png", ".jpg", ".jpeg")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def _read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from None


def _open_image(path: Path) -> Image.Image:
    """Open, verify and fully decode an image file; any failure is a DataError."""
    data = _read_bytes(path)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format == "PNG":
                probe.verify()  # CRC of every chunk, catches truncation even if PIL tolerates it
        img = Image.open(io.BytesIO(data))
        img.load()
    except _PIL_ERRORS as exc:
        raise DataError(path, f"not a readable image (corrupt or truncated?): {exc}") from None
    return img


LOSSLESS_TO_RGB = ("1", "L", "P", "YCbCr")  # converted to RGB without loss or guessing


def _png_bit_depth(path: Path, img: Image.Image) -> int:
    """Bits per channel of a PNG (IHDR byte 24); PIL opens 16-bit RGB PNGs as 8-bit "RGB"
    keeping only the high byte, so the mode alone does not tell."""
    if img.format != "PNG":
        return 8
    with open(path, "rb") as f:
        head = f.read(26)
    return head[24] if len(head) >= 26 else 8


def read_rgb(path: Path) -> np.ndarray:
    """Image file -> uint8 (H, W, 3). The policy (nothing is converted silently in a way that
    changes pixel values):
    - 8-bit RGB is read as is; 1-bit, grey (L), palette (P) and YCbCr images are converted to
      RGB, which is lossless; RGBA / LA images whose alpha is fully opaque drop the alpha.
    - refused, naming the file: 16-bit PNGs (scaling 16 -> 8 bits depends on how the data
      were stored: full range or 8-bit values in 16-bit words), RGBA / LA with transparent
      pixels (the colour under them is undefined), CMYK (needs colour management), and
      integer / float modes (I, I;16, F)."""
    img = _open_image(path)
    depth = _png_bit_depth(path, img)
    if depth == 16:
        raise DataError(path, "16-bit PNG: expected 8 bits per channel; convert it to 8-bit "
                              "RGB first (the right scaling depends on how it was stored)")
    if img.mode in ("RGBA", "LA"):
        alpha = np.asarray(img.getchannel("A"))
        if alpha.size and alpha.min() < 255:
            raise DataError(path, f"image mode {img.mode} with transparent pixels: expected "
                                  "opaque RGB (flatten it onto a background first)")
    elif img.mode != "RGB" and img.mode not in LOSSLESS_TO_RGB:
        raise DataError(path, f"unsupported image mode {img.mode!r}: expected 8-bit RGB "
                              "(or grey / palette)")
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def read_index_png(path: Path) -> np.ndarray:
    """Index mask PNG -> uint8 (H, W). Accepts 8-bit grey ("L") or palette ("P": the indices).

    RGB masks are refused: colour -> class tables differ per dataset and guessing is unsafe.
    """
    img = _open_image(path)
    if img.mode not in ("L", "P") or _png_bit_depth(path, img) == 16:
        mode = "16-bit" if img.mode in ("L", "P") else f"mode {img.mode!r}"
        raise DataError(path, f"mask must be an 8-bit index PNG (mode L or P), got {mode}")
    return np.asarray(img, dtype=np.uint8).copy()  # for "P" this is the palette index


def read_npy(path: Path) -> np.ndarray:
    """`.npy` file -> array, never unpickling objects."""
    data = _read_bytes(path)
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(path, f"not a readable .npy array: {exc}") from None


def read_json(path: Path) -> object:
    try:
        return json.loads(_read_bytes(path).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"invalid JSON: {exc}") from None


def file_stem(sample_id: str) -> str:
    """The file name stem a writer uses for a sample id; readers return the stem as the id.

    Path separators are flattened to '_' (SynthSewer ids look like "train/000042" and would
    read back as "train_000042"); anything else that could escape the folder is refused.
    """
    stem = sample_id.replace("/", "_").replace("\\", "_")
    if not _SAFE_ID.match(stem):
        raise ValueError(f"sample id {sample_id!r} cannot be used as a file name "
                         "(allowed: letters, digits, '.', '_', '+', '-', '/'; no leading dot)")
    return stem


def file_stems(samples: Iterable[object]) -> list[str]:
    """`file_stem` of each sample's id, refusing two ids that map to the same file."""
    stems = [file_stem(s.id) for s in samples]  # type: ignore[attr-defined]
    seen: set[str] = set()
    for stem in stems:
        if stem in seen:
            raise ValueError(f"two sample ids map to the same file name {stem!r}")
        seen.add(stem)
    return stems


# ---- atomic writers -------------------------------------------------------------------------

def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a '.tmp-*' file in the same folder + os.replace."""
    atomic.write_bytes(path, data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic.write_text(path, text)


def write_png(path: Path, array: np.ndarray) -> None:
    """uint8 (H, W) -> 8-bit grey PNG, uint8 (H, W, 3) -> RGB PNG; written atomically."""
    if array.dtype != np.uint8:
        raise ValueError(f"{path}: PNG writer needs uint8, got {array.dtype}")
    if array.ndim == 2:
        img = Image.fromarray(np.ascontiguousarray(array))  # uint8 2-D -> mode "L"
    elif array.ndim == 3 and array.shape[2] == 3:
        img = Image.fromarray(np.ascontiguousarray(array))  # uint8 (H, W, 3) -> "RGB"
    else:
        raise ValueError(f"{path}: PNG writer needs (H, W) or (H, W, 3), got {array.shape}")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)  # lossless either way; level 1 is fast
    atomic_write_bytes(path, buf.getvalue())


def write_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


# ---- listing + fingerprint ------------------------------------------------------------------

def list_files(folder: Path, exts: Iterable[str]) -> dict[str, Path]:
    """{stem: path} of the files in `folder` with one of `exts` (case-insensitive), sorted.

    Two files with the same stem (a.png and a.jpg) make the sample id ambiguous: DataError.
    """
    exts = tuple(e.lower() for e in exts)
    found: dict[str, Path] = {}
    for entry in sorted(Path(folder).iterdir()):
        if not entry.is_file() or entry.name.startswith("."):
            continue
        if entry.suffix.lower() not in exts:
            continue
        if entry.stem in found:
            raise DataError(entry, f"two files for sample {entry.stem!r}: "
                                   f"{found[entry.stem].name} and {entry.name}")
        found[entry.stem] = entry
    return found


def files_fingerprint(kind: str, root: Path, files: Iterable[Path],
                      memo: dict[Path, str] | None = None) -> str:
    """Content fingerprint of a folder dataset: format name + for each file its path
    (relative to root), size and the SHA-256 of its bytes.

    Contents are read (a dataset's loader decodes every file anyway, which costs more), so
    any edit changes the fingerprint, also one that keeps the size and the mtime, and a copy
    or `touch` of unchanged files does not. Results keyed by it are recomputed exactly when
    the data changed.

    `memo` (path -> "size:sha256"), kept by a dataset, lets a second fingerprint over some
    of the same files (a split's, `training_fingerprint`) read each file once.
    """
    h = hashlib.sha256(f"{kind}|v2-content".encode())
    root = Path(root)
    memo = {} if memo is None else memo
    for f in sorted(Path(p) for p in files):
        if f not in memo:
            digest = hashlib.sha256()
            try:
                with open(f, "rb") as stream:
                    for block in iter(lambda: stream.read(1 << 20), b""):
                        digest.update(block)
            except OSError as exc:
                raise DataError(f, f"cannot read: {exc.strerror or exc}") from None
            memo[f] = f"{f.stat().st_size}:{digest.hexdigest()}"
        h.update(f"|{f.relative_to(root).as_posix()}:{memo[f]}".encode())
    return h.hexdigest()[:16]
