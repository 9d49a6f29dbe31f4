"""Shared test helpers: a tiny HTTP server on 127.0.0.1, image-folder builders, small trial settings,
the blur of blur pooling written out loop by loop."""

from __future__ import annotations

import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from poolkit.invariance import TrialSettings


def ring_trial_settings(**chosen: Any) -> TrialSettings:
    """Small, fast trial settings on the 64-px shapes, replicate fill, depths 1 to 4; ``chosen`` gives
    the rest (inputs, jitters, trials per jitter, exhaustive range, poolings) or overrides these."""
    return TrialSettings(**{"max_depth": 4, "fills": ["replicate"], "size": 64, "r_shrink": 4, **chosen})


def reflected(index: int, size: int) -> int:
    """The source of a reflection-padded index (the edge not repeated): −1 → 1, size → size − 2."""
    if index < 0:
        return -index
    if index >= size:
        return 2 * (size - 1) - index
    return index


def blur_loop(dense: np.ndarray, taps: list[int]) -> np.ndarray:
    """Blur pooling's blur written out loop by loop: at every second row and column of ``dense`` from
    the first, the k×k kernel taps ⊗ taps / sum(taps)², reading ``dense`` reflected at the border,
    (k − 1) // 2 cells before and k // 2 after (Zhang's Downsample pads so: Rect-2 0 and 1, Tri-3 1
    and 1, Bin-5 2 and 2)."""
    h, w = dense.shape
    k, before = len(taps), (len(taps) - 1) // 2
    out = np.zeros(((h + 1) // 2, (w + 1) // 2))
    for i in range(0, h, 2):
        for j in range(0, w, 2):
            for a in range(k):
                for b in range(k):
                    value = dense[reflected(i - before + a, h), reflected(j - before + b, w)]
                    out[i // 2, j // 2] += taps[a] * taps[b] * value / sum(taps) ** 2
    return out


class Route:
    """What the server answers for one path: a body, and how often to cut it short."""

    def __init__(self, body: bytes, drop_first: int = 0, status: int = 200):
        self.body = body
        self.drop_first = drop_first  # this many requests send half the body, then close
        self.status = status
        self.hits = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Route]] = {}

    def do_GET(self) -> None:
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        route.hits += 1
        self.send_response(route.status)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.hits <= route.drop_first:
            self.wfile.write(route.body[: len(route.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(route.body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def running(server: http.server.ThreadingHTTPServer) -> Iterator[int]:
    """Serve with ``server`` in a thread of its own; yield its port; shut it down afterwards."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[str]:
    """Serve ``routes`` on 127.0.0.1 (a free port); yield the base URL."""
    handler = type("Handler", (_Handler,), {"routes": routes})
    with running(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as port:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def serve_status(status: int) -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 that answers every GET and POST with ``status``; yield its URL and
    the list of requested paths (for an HTTP proxy, the full URLs the client asked for)."""
    requested: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            requested.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = f"status {status}".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.answer()

        def do_POST(self) -> None:
            self.answer()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()


def jpeg_bytes(seed: int, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    """A small random image encoded as JPEG."""
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "CMYK": 4}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode=mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def make_layout(root: Path, per_class: int = 2) -> dict[str, bytes]:
    """Write a small valid Kaggle-layout folder; return relative path → bytes."""
    files = {}
    seed = 0
    for split in ("train", "valid"):
        for label in ("Car", "Truck"):
            for i in range(per_class):
                seed += 1
                rel = f"{split}/{label}/{label.lower()}{i}.jpeg"
                files[rel] = jpeg_bytes(seed)
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(files[rel])
    return files


def zip_of(files: dict[str, bytes], prefix: str = "car-or-truck/") -> bytes:
    """A zip archive of ``files`` under a top-level folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in sorted(files.items()):
            bundle.writestr(prefix + name, data)
    return buffer.getvalue()
