"""Open a symctl HTML report in headless Chromium: screenshot, DOM, console errors (shared by tests)."""

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium_or_skip() -> str:
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if chromium is None:
        pytest.skip("headless Chromium is not installed (Debian package 'chromium'; `make system-packages` installs it)")
    return chromium


def png_pixels(path: Path):
    """Decode an 8-bit RGB(A) non-interlaced PNG (what Chromium writes) without extra packages."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        n = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    bpp = {2: 3, 6: 4}[ctype]
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def open_report(report: Path, work: Path) -> dict:
    """Screenshot and DOM of `report` in headless Chromium, with the console errors it logged."""
    chromium = chromium_or_skip()
    flags = [*FLAGS, f"--user-data-dir={work / 'profile'}"]
    url = report.resolve().as_uri()
    shot = work / "shot.png"
    run = subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1200,1600", url], capture_output=True, text=True, timeout=120
    )
    assert shot.exists(), run.stderr[-2000:]
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    errors = [ln for ln in (run.stderr + dom.stderr).splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    w, h, bpp, rows = png_pixels(shot)
    non_white = sum(1 for r in rows[::4] for i in range(0, len(r), bpp * 4) if min(r[i : i + 3]) < 200)
    return {"console_errors": errors, "dom": dom.stdout, "width": w, "height": h, "non_white": non_white}
