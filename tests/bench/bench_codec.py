"""Wire-layer micro-benchmark: encode, decode, MAC sign and MAC verify per vector message.

    python tests/bench/bench_codec.py [repeats]

Prints microseconds per message; asserts nothing (figures depend on the machine).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from switch.wire import HI, TI, decode, encode, sign, verify  # noqa: E402

VECTORS = ROOT / "tests" / "data" / "vectors.json"


def per_call_us(fn: Callable[[], object], repeats: int) -> float:
    """Best of 5 rounds, so a scheduling hiccup does not count."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / repeats * 1e6


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    vectors = [v for v in json.loads(VECTORS.read_text()) if "message_ascii" in v]
    print(f"{'message':<28}{'bytes':>6}{'encode':>9}{'decode':>9}{'sign':>9}{'verify':>9}   (µs per message)")
    rows = []
    for v in vectors:
        raw = v["message_ascii"].encode("ascii")
        spec = TI if v["link"] == "TI" else HI
        msg = decode(raw, spec)
        figures = [per_call_us(lambda: encode(msg, spec), repeats), per_call_us(lambda: decode(raw, spec), repeats)]
        if v["mac_key_hex"]:
            key = bytes.fromhex(v["mac_key_hex"])
            figures += [per_call_us(lambda: sign(msg, key), repeats), per_call_us(lambda: verify(raw, key), repeats)]
        else:
            figures += [float("nan"), float("nan")]
        rows.append(figures)
        print(f"{v['name']:<28}{len(raw):>6}" + "".join(f"{f:>9.1f}" for f in figures))
    means = [sum(col) / len(col) for col in ([f for f in column if f == f] for column in zip(*rows))]
    print(f"{'mean':<28}{'':>6}" + "".join(f"{m:>9.1f}" for m in means))


if __name__ == "__main__":
    main()
