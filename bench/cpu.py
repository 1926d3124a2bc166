"""CPU time of a server process tree from ``/proc``: the process, its live children and the dead ones."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_cpu_seconds(pid: int) -> float:
    """User + system seconds of ``pid``, of its children alive now and of those it has reaped.

    A gunicorn master reaps the workers it recycles, a PostgreSQL postmaster its backends, so
    what they spent stays counted in the parent's ``cutime``/``cstime``.
    """
    fields = _stat(pid)
    total = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else ():
        try:
            total += sum(int(value) for value in _stat(int(child))[11:13])
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile: its time is in the parent's cutime from now on
    return total / TICKS
