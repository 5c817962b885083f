"""Progress on the CLI's stderr, for the steps that take a while.

On a terminal: a tqdm bar for counted steps (the report), and training's
``epoch k/n: ...`` messages (PostgreSQL NOTICEs) redrawn on one line instead of
scrolling. Anywhere else (a pipe, a log file, SQL Agent, CI): plain lines, so a
log keeps every message and no control characters.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

EPOCH = re.compile(r"^(?:[\w.]+: )?epoch (\d+)/(\d+)")


def interactive() -> bool:
    return sys.stderr.isatty()


class NoticePrinter:
    """A ``progress`` callback for routines.call: epochs on one line on a TTY."""

    def __init__(self, stream=None, tty: bool | None = None):
        self.stream = stream or sys.stderr
        self.tty = interactive() if tty is None else tty
        self.open_line = False

    def __call__(self, message: str) -> None:
        match = EPOCH.match(message)
        if self.tty and match:
            done, total = int(match.group(1)), int(match.group(2))
            width = 24
            filled = int(width * done / max(total, 1))
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {message[:110]}\033[K")
            self.open_line = True
        else:
            self.close()
            self.stream.write(message + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.open_line = False


@contextmanager
def steps(description: str, total: int | None = None) -> Iterator[Callable[[str], None]]:
    """A callback to call once per step (with the step's name): a bar on a TTY."""
    if not interactive():
        yield lambda step: None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=description, file=sys.stderr, leave=False,
               bar_format=("{desc}: {bar} {n_fmt}/{total_fmt} {postfix}" if total
                           else "{desc}: step {n_fmt} {postfix} [{elapsed}]"))
    try:
        def advance(step: str) -> None:
            bar.set_postfix_str(step)
            bar.update(1)

        yield advance
    finally:
        bar.close()


@contextmanager
def ticker(description: str, measure: Callable[[], str] | None = None) -> Iterator[None]:
    """For one long step with nothing to count (a pip install): on a TTY, a line
    with the elapsed time and ``measure()`` (e.g. megabytes written so far),
    redrawn twice a second until the step ends."""
    if not interactive():
        yield
        return
    import threading

    from tqdm import tqdm

    bar = tqdm(total=None, desc=description, file=sys.stderr, leave=False,
               bar_format="{desc}: {postfix} [{elapsed}]")
    done = threading.Event()

    def tick() -> None:
        while not done.wait(0.5):
            if measure is not None:
                try:
                    bar.set_postfix_str(measure())
                except OSError:
                    pass  # the folder is being swapped in
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        bar.close()


def folder_megabytes(path) -> str:
    import os

    total = 0
    for dirpath, _dirs, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files
                     if os.path.isfile(os.path.join(dirpath, f)))
    return f"{total / 1e6:.0f} MB installed"
