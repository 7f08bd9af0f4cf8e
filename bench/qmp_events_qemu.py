"""Receive N QMP events with QEMU's own Python client (qemu.qmp) and report the rate.

Usage: PYTHONPATH=.cache/qemu-src/qemu-7.2.0/python python3 bench/qmp_events_qemu.py SOCKET N
Prints one JSON line: {"events": N, "seconds": S}. The clock starts at the
first event and stops at the N-th, as in bench/qmp-events.mjs.
"""

import asyncio
import json
import sys
import time

from qemu.qmp import QMPClient


async def main(path: str, count: int) -> None:
    client = QMPClient('bench')
    await client.connect(path)  # reads the greeting and negotiates
    received = 0
    start = 0.0
    async for _event in client.events:
        if received == 0:
            start = time.perf_counter()
        received += 1
        if received == count:
            break
    seconds = time.perf_counter() - start
    await client.disconnect()
    print(json.dumps({'events': count, 'seconds': seconds}))


if __name__ == '__main__':
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
