"""Files the commands write outside a training run (figures, demonstrations): checked before any
work is done, never overwritten unless ``--force`` is given, written atomically, and reported by
the exact path written.

* ``output_file(path, force, suffix)`` checks a path up front: the suffix the writer produces
  (a figure of another format, or a name without one, is refused rather than silently renamed),
  a parent that is a directory (not a file, not missing: it is created), writable, and no
  existing file unless ``force``.
* ``atomic_output(path)`` yields a temporary name in the same folder (unique per process) and
  renames it onto ``path`` once the writer has finished; a failed write (a full disk, Ctrl-C)
  leaves the old file, if any, and no temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from plastix.errors import PlastixError


def output_file(path: str | os.PathLike, force: bool, suffix: str, flag: str = "--out") -> Path:
    """``path`` checked for writing a ``suffix`` file (e.g. ".png"); PlastixError otherwise."""
    out = Path(path)
    article = "an" if suffix[1:2] in set("aefhilmnorsx") else "a"  # said letter by letter: an .npz, a .png
    if out.suffix.lower() != suffix:
        raise PlastixError(f"{flag} must name {article} {suffix} file, got {str(out)!r}.")
    check_writable_parent(out, flag)
    if out.is_dir():
        raise PlastixError(f"{flag} {str(out)!r} is a directory; give {article} {suffix} file name.")
    if out.exists() and not force:
        raise PlastixError(f"{str(out)!r} already exists; choose another {flag} or give --force to overwrite it.")
    return out


def check_writable_parent(out: Path, flag: str = "--out") -> None:
    """The nearest existing ancestor of ``out`` is a directory this process can write in."""
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise PlastixError(f"{flag} {str(out)!r} lies under {str(ancestor)!r}, which is a file, not a directory.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PlastixError(f"{flag} {str(out)!r}: cannot write in {str(ancestor)!r} (read-only or no permission).")


def check_run_dir(path: str | os.PathLike | None, flag: str = "--out") -> None:
    """A new run (or output) directory ``path`` can be made here: not a file, not under a file,
    in a directory this process can write in (None: a default name under the current directory)."""
    if path is not None and not str(path).strip():
        raise PlastixError(f"{flag} must name a directory, got an empty name {str(path)!r}.")
    out = Path(path) if path else Path("runs") / "x"
    if out.exists() and not out.is_dir():
        raise PlastixError(f"{flag} {str(out)!r} is a file, not a directory; choose another {flag}.")
    check_writable_parent(out if not out.is_dir() else out / "x", flag)


def check_new_files(paths: list[Path], force: bool) -> None:
    """Refuse to overwrite any of ``paths`` (files a command writes into a run directory) unless ``force``."""
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise PlastixError(f"{', '.join(map(repr, existing))} already exist(s); give --force to overwrite.")


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, so writers keep their format), renamed onto
    ``path`` when the block ends without an exception; removed otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
