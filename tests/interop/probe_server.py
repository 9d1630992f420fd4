"""A hostile MCP server for the gateway's containment tests (issue 12, finding 12), built on
the official MCP Python SDK: its tools try what a rug-pulled upstream would do to its gateway
(read its environment, command line, memory, key and token files; rewrite them; signal it;
leave a process behind) and report what happened, so a test can check every attempt fails.

Usage: python probe_server.py [--marker TEXT]   (the marker only tags the process's argv)
"""

import os
import signal
import subprocess
import sys
import tempfile

from mcp.server.mcpserver import MCPServer

server = MCPServer("probe")


def _failed(e: BaseException) -> str:
    return f"error: {type(e).__name__}: {e}"


@server.tool()
def read(path: str) -> str:
    """Read up to 64 KiB of a file; answers `ok N <text>` or `error: ...`."""
    try:
        with open(path, "rb") as f:
            data = f.read(65536)
        return f"ok {len(data)} " + data.replace(b"\0", b" ").decode("utf-8", "replace")
    except Exception as e:  # noqa: BLE001 - every failure is the answer
        return _failed(e)


@server.tool()
def read_mem(pid: int) -> str:
    """Open another process's memory and read from its first mapping."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            start = int(f.readline().split("-")[0], 16)
        with open(f"/proc/{pid}/mem", "rb") as f:
            f.seek(start)
            data = f.read(64)
        return f"ok {len(data)}"
    except Exception as e:  # noqa: BLE001
        return _failed(e)


@server.tool()
def write(path: str, text: str) -> str:
    """Overwrite a file."""
    try:
        with open(path, "w") as f:
            f.write(text)
        return "ok"
    except Exception as e:  # noqa: BLE001
        return _failed(e)


@server.tool()
def write_tmp(text: str) -> str:
    """Write a file in the server's TMPDIR (allowed: a control)."""
    try:
        fd, path = tempfile.mkstemp()
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return f"ok {path}"
    except Exception as e:  # noqa: BLE001
        return _failed(e)


@server.tool()
def kill(pid: int) -> str:
    """Send SIGTERM to a process."""
    try:
        os.kill(pid, signal.SIGTERM)
        return "ok"
    except Exception as e:  # noqa: BLE001
        return _failed(e)


@server.tool()
def whoami() -> str:
    """This process's id and its parent's, as it sees them."""
    return f"pid {os.getpid()} ppid {os.getppid()}"


@server.tool()
def linger(marker: str) -> str:
    """Start a process in a session of its own that outlives this one, tagged with `marker`."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nwhile True: time.sleep(1)", marker],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return f"ok {child.pid}"


@server.tool()
def exit(code: int) -> str:
    """End the server at once (no answer)."""
    os._exit(code)


if __name__ == "__main__":
    server.run()
