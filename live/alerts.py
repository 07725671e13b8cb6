"""Alerts beyond the terminal: a desktop notification through `notify-send`, where the desktop has one.

Never required: without notify-send, or outside a graphical session, the app's own alert (colour,
bell, a line in the feed) is all there is.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Callable

NOTIFY_TIMEOUT_S = 5.0  # a notification daemon that does not answer is given up on
DESKTOP_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")  # one of them: a desktop session


def desktop_notifier() -> Callable[[str, str], None] | None:
    """A function showing a desktop notification (title, body), or None where there is no way to."""
    exe = shutil.which("notify-send")
    if exe is None or not any(os.environ.get(v) for v in DESKTOP_VARIABLES):
        return None

    def send(title: str, body: str) -> None:
        """Show one notification; RuntimeError when notify-send fails or does not answer."""
        try:
            subprocess.run([exe, "--app-name=SAM Live", "--urgency=critical", title, body], check=True,
                           timeout=NOTIFY_TIMEOUT_S, stdin=subprocess.DEVNULL, capture_output=True)
        except (OSError, subprocess.SubprocessError) as e:
            raise RuntimeError(f"notify-send failed: {e}") from e

    return send
