"""The DAG helper (distribution `airflow-kit-dags`, import name `airflow_kit`) as a wheel, for the
images the kit renders: the Airflow image (scripts/images.sh) and every fused worker image
(worker_image.py puts it in each build context). A DAG file is parsed by the dag-processor AND
again in its task's pod, so every image that runs Airflow needs the helper installed.

The wheel is made from the INSTALLED distribution (the helper is a dependency of this package),
with the standard library only: no build backend and no network when rendering or building, and
byte-for-byte the same wheel for the same helper (sorted entries, fixed timestamps), so a build
context or an image cache key changes only when the helper does. It holds the package's `.py`
files and the installed METADATA (name, version, Requires-Dist); `pip install --no-index` takes it.

    python -m airflow_kit_platform.workloads.helper_wheel --out DIR    # prints the wheel's path
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import importlib.util
import io
import pathlib
import sys
import zipfile
from typing import Optional, Sequence

from airflow_kit import names

PACKAGE = "airflow_kit"
TAG = "py3-none-any"  # pure Python
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: no build time in the wheel


def _package_dir() -> pathlib.Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{PACKAGE} is not installed: pip install ./packages/{names.DISTRIBUTION}")
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def _distribution() -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(names.DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(f"{names.DISTRIBUTION} is not installed: pip install ./packages/{names.DISTRIBUTION}") from None


def version() -> str:
    return _distribution().version


def wheel_name() -> str:
    return f"{names.DISTRIBUTION.replace('-', '_')}-{version()}-{TAG}.whl"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel() -> tuple[str, bytes]:
    """(file name, wheel bytes) of the installed helper."""
    distribution = _distribution()
    metadata = distribution.read_text("METADATA")
    if not metadata:
        raise RuntimeError(f"{names.DISTRIBUTION} {distribution.version}: no METADATA in its installation")
    package = _package_dir()
    entries: list[tuple[str, bytes]] = []
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        entries.append((f"{PACKAGE}/{path.relative_to(package).as_posix()}", path.read_bytes()))
    dist_info = f"{names.DISTRIBUTION.replace('-', '_')}-{distribution.version}.dist-info"
    entries += [
        (f"{dist_info}/METADATA", metadata.encode()),
        (f"{dist_info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: airflow-kit-platform\n"
                                f"Root-Is-Purelib: true\nTag: {TAG}\n").encode()),
        (f"{dist_info}/top_level.txt", f"{PACKAGE}\n".encode()),
    ]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries)
    entries.append((f"{dist_info}/RECORD", (record + f"{dist_info}/RECORD,,\n").encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return wheel_name(), buffer.getvalue()


def write_wheel(directory: pathlib.Path) -> pathlib.Path:
    name, data = build_wheel()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(data)
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_kit_platform.workloads.helper_wheel",
                                     description=f"Write the installed {names.DISTRIBUTION} as a wheel.")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="directory to write the wheel into")
    args = parser.parse_args(argv)
    print(write_wheel(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
