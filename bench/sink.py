"""A counting STARTTLS SMTP sink for the send benchmark (its own process, so it does not
share a CPU-bound interpreter with what it measures). Keeps nothing but a count.

It stands in for a relay, which in production runs on other machines; here it shares the
two cores with what is measured, so it is kept lean:

- aiosmtpd speaks the protocol (EHLO, STARTTLS required before MAIL, MAIL, RCPT), but
  the message data after DATA is read in one piece up to the terminating ``.`` line.
  aiosmtpd's own DATA loop reads and checks it line by line, about 300 lines for one of
  the benchmark's messages: measured here, that loop alone cost the sink 2.0 of its
  2.7 ms of CPU per message, more than the send engine's database work. The data is
  only counted, so it is neither un-dot-stuffed nor kept.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.smtp import SMTP, syntax

from delivery.tls import ensure_dev_tls, server_tls_context

END_OF_DATA = b"\r\n.\r\n"


class CountingSMTP(SMTP):
    """aiosmtpd's server with a DATA command that reads the data as one block."""

    def __init__(self, *args, counter: list[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.counter = counter

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        # The first line on its own: an empty message is just ".\r\n", with no CRLF
        # before the dot for END_OF_DATA to find.
        data = await self._read_until(b"\r\n")
        if data != b".\r\n":
            data = b"\r\n" + data
            while not data.endswith(END_OF_DATA):
                data += await self._read_until(END_OF_DATA)
        self.counter[0] += 1
        self._set_post_data_state()
        await self.push("250 OK")

    async def _read_until(self, separator: bytes) -> bytes:
        try:
            return await self._reader.readuntil(separator)
        except asyncio.LimitOverrunError as error:  # longer than the reader's buffer limit
            return await self._reader.readexactly(error.consumed)


async def main(port: int, tls_dir: str) -> None:
    context = server_tls_context(ensure_dev_tls(tls_dir))
    counter = [0]
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(
        lambda: CountingSMTP(
            None, tls_context=context, require_starttls=True, decode_data=False, counter=counter
        ),
        host="127.0.0.1",
        port=port,
    )
    print("ready", flush=True)
    await stop.wait()
    server.close()
    print(f"received {counter[0]}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-dir", required=True)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.tls_dir))
