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


def read_rgb(path: Path) -> np.ndarray:
    """Image file -> uint8 (H, W, 3). Grey, palette and RGBA images are converted to RGB."""
    img = _open_image(path)
    if img.mode not in ("RGB", "L", "P", "RGBA", "LA", "CMYK", "YCbCr"):
        raise DataError(path, f"unsupported image mode {img.mode!r} (expected RGB)")
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def read_index_png(path: Path) -> np.ndarray:
    """Index mask PNG -> uint8 (H, W). Accepts 8-bit grey ("L") or palette ("P": the indices).

    RGB masks are refused: colour -> class tables differ per dataset and guessing is unsafe.
    """
    img = _open_image(path)
    if img.mode not in ("L", "P"):
        raise DataError(path, f"mask must be an 8-bit index PNG (mode L or P), got mode {img.mode!r}")
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


def files_fingerprint(kind: str, root: Path, files: Iterable[Path]) -> str:
    """Cheap fingerprint: format name + each file's path (relative to root), size and mtime.

    Contents are not read, so touching or copying files (new mtimes) changes the fingerprint;
    that errs on the side of recomputing, never on reusing stale results.
    """
    h = hashlib.sha256(f"{kind}|v1".encode())
    root = Path(root)
    for f in sorted(Path(p) for p in files):
        st = f.stat()
        h.update(f"|{f.relative_to(root).as_posix()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]
