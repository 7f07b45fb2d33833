"""How Preflight launches a browser: Debian's Chromium (Playwright cannot download its own
here), headless, with nothing that reaches beyond loopback."""

from typing import Any

EXECUTABLE = "/usr/bin/chromium"
ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost",
)


def launch_args() -> dict[str, Any]:
    """Keyword arguments of Playwright's `chromium.launch`."""
    return {"executable_path": EXECUTABLE, "args": list(ARGS), "headless": True}
