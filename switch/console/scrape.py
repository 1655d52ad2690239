"""The switch's own /metrics, read the way Prometheus reads it, so the dashboard shows the same
figures: links up or down, connections, the store-and-forward queue, holds, requests by code."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from switch.config import split_address

TIMEOUT_S = 2.0
MAX_BYTES = 8 * 1024 * 1024


@dataclass
class Sample:
    labels: dict[str, str]
    value: float


@dataclass
class Scrape:
    url: str
    error: str = ""
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def get(self, name: str) -> list[Sample]:
        return self.samples.get(name, [])

    def total(self, name: str) -> float:
        return sum(s.value for s in self.get(name))

    def by(self, name: str, label: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in self.get(name):
            out[s.labels.get(label, "")] = out.get(s.labels.get(label, ""), 0) + s.value
        return out


async def _get(host: str, port: int) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET /metrics HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read(MAX_BYTES)
        while chunk := await reader.read(MAX_BYTES):
            data += chunk
            if len(data) > MAX_BYTES:
                raise ValueError("answer too large")
        return data
    finally:
        writer.close()


async def scrape(listen: str) -> Scrape:
    host, port = split_address(listen)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    result = Scrape(f"http://{host}:{port}/metrics")
    try:
        raw = await asyncio.wait_for(_get(host, port), TIMEOUT_S)
        head, _, body = raw.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
            raise ValueError(head.split(b"\r\n", 1)[0].decode("latin-1") or "no answer")
        for family in text_string_to_metric_families(body.decode("utf-8")):
            for s in family.samples:
                result.samples.setdefault(s.name, []).append(Sample(dict(s.labels), float(s.value)))
    except (OSError, asyncio.TimeoutError, ValueError, UnicodeDecodeError) as exc:
        result.error = f"cannot read the switch's metrics at {result.url}: {exc or type(exc).__name__}"
    return result
