"""Images an example carries: referenced on disk, named by content hash, decoded only when a model looks at one.

A benchmark row gives an image as a file path, as bytes, or as a dataset ``Image`` value (``{"bytes", "path"}``).
:func:`image_from_row_value` checks it at load time (present, within :data:`MAX_IMAGE_BYTES` and
:data:`MAX_IMAGE_PIXELS`, decodable) and returns an :class:`ImageRef`: bytes are written once to a
content-addressed store under the shared cache folder, so a thousand-item set costs one image in memory at a
time, and the same picture in two rows (or two runs) is one file. Every read checks the bytes against the
hash: a damaged store file is refused, never shown to a model.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rm_mlflow._cache_dir import cache_dir

MAX_IMAGE_BYTES = 32 * 2**20  # one encoded image; a larger one is refused at load time, before any weights
MAX_IMAGE_PIXELS = 64_000_000  # width x height; Pillow's own guard against decompression bombs is of this order
IMAGE_STORE = "images"  # under the shared cache folder


class ImageError(ValueError):
    """An image that cannot be used: missing, too large, undecodable, or no longer matching its hash. One line."""


@dataclass(frozen=True)
class ImageRef:
    """One image: a file on disk and the SHA-256 of its bytes (which is what caches and digests see)."""

    path: str
    sha256: str
    format: str  # Pillow's name: PNG, JPEG, ...

    @property
    def reference(self) -> str:
        """How tables and records name the image: ``sha256:<hash>``, never its bytes."""
        return f"sha256:{self.sha256}"

    @property
    def mime_type(self) -> str:
        """``image/png``, ``image/jpeg``, ..."""
        return f"image/{self.format.lower()}"

    def read_bytes(self) -> bytes:
        """The encoded image, checked against its hash."""
        try:
            data = Path(self.path).read_bytes()
        except OSError as error:
            raise ImageError(f"image {self.path} can no longer be read ({error.strerror})") from None
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise ImageError(f"image {self.path} changed since it was loaded (its SHA-256 no longer matches); reload the benchmark")
        return data

    def load(self) -> Any:
        """The decoded image as an RGB ``PIL.Image``."""
        from PIL import Image

        with Image.open(io.BytesIO(self.read_bytes())) as image:
            return image.convert("RGB")

    def data_url(self) -> str:
        """A ``data:`` URL (base64), as OpenAI-compatible endpoints take images."""
        return f"data:{self.mime_type};base64,{base64.b64encode(self.read_bytes()).decode('ascii')}"


def image_store() -> Path:
    """Where images given as bytes are kept, one file per content hash."""
    return cache_dir() / IMAGE_STORE


def image_from_row_value(value: Any, *, base_dir: Path | None = None) -> ImageRef:
    """An :class:`ImageRef` for a row's image: bytes, a path (relative to ``base_dir``), or a dataset ``Image`` value.

    Raises :class:`ImageError` with one line when the image is missing, too large or undecodable.
    """
    if isinstance(value, Mapping):  # datasets' Image feature undecoded, or a parquet struct
        data, path = value.get("bytes"), value.get("path")
        if data:
            return image_from_bytes(bytes(data))
        if path:
            return image_from_file(_resolve(str(path), base_dir))
        raise ImageError("an image value with neither bytes nor a path")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return image_from_bytes(bytes(value))
    if isinstance(value, (str, os.PathLike)):
        return image_from_file(_resolve(os.fspath(value), base_dir))
    raise ImageError(f"expected image bytes, a path or an {{bytes, path}} value, got {type(value).__name__}")


def image_from_file(path: Path) -> ImageRef:
    """An image file referenced where it is (checked, hashed, not copied)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageError(f"image file {path} not found") from None
    except OSError as error:
        raise ImageError(f"image file {path} cannot be read ({error.strerror})") from None
    _check_size(size)
    data = path.read_bytes()
    return ImageRef(str(path), hashlib.sha256(data).hexdigest(), _checked_format(data))


def image_from_bytes(data: bytes) -> ImageRef:
    """Encoded image bytes, checked and written once to the content-addressed :func:`image_store`."""
    _check_size(len(data))
    image_format = _checked_format(data)
    digest = hashlib.sha256(data).hexdigest()
    target = image_store() / digest[:2] / f"{digest}.{image_format.lower()}"
    if not (target.is_file() and target.stat().st_size == len(data)):
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    return ImageRef(str(target), digest, image_format)


def _resolve(path: str, base_dir: Path | None) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() or base_dir is None else base_dir / candidate


def _check_size(size: int) -> None:
    if size == 0:
        raise ImageError("an empty image (0 bytes)")
    if size > MAX_IMAGE_BYTES:
        raise ImageError(f"an image of {size / 2**20:.1f} MiB, over the {MAX_IMAGE_BYTES // 2**20} MiB limit")


def _checked_format(data: bytes) -> str:
    """The image's format, after decoding it fully once (a truncated or corrupt file fails here, not in the model)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ImageError(f"an image of {width}x{height} pixels, over the {MAX_IMAGE_PIXELS:,}-pixel limit")
            image_format = image.format or "PNG"
            image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"not a decodable image (no format Pillow reads; it starts {data[:8]!r})") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"not a decodable image ({str(error).splitlines()[0][:120] or type(error).__name__})") from None
    return image_format
