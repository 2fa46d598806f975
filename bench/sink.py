"""A counting STARTTLS SMTP sink for the send benchmark (its own process, so it does not
share a CPU-bound interpreter with what it measures). Keeps nothing but a count."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.smtp import SMTP

from delivery.tls import ensure_dev_tls, server_tls_context


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


async def main(port: int, tls_dir: str) -> None:
    context = server_tls_context(ensure_dev_tls(tls_dir))
    handler = Counter()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(
        lambda: SMTP(handler, tls_context=context, require_starttls=True, decode_data=False),
        host="127.0.0.1",
        port=port,
    )
    print("ready", flush=True)
    await stop.wait()
    server.close()
    print(f"received {handler.count}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-dir", required=True)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.tls_dir))
