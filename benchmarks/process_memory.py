"""This process's resident memory now and at its peak, from /proc/self/status (Linux).

Not ``resource.getrusage(...).ru_maxrss``: Linux keeps that across ``execve``, so a child started by a parent that
had loaded torch reports the parent's peak as its own before it has done anything.
"""

from __future__ import annotations

from pathlib import Path


def rss_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB: ``VmRSS`` and ``VmHWM``, which start afresh with each program."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))  # type: ignore[return-value]
