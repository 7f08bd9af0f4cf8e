"""The peer for bench/agent-ingest.mjs: QEMU's own Python QMP client
(python/qemu/qmp from QEMU 7.2) connecting to a QMP server and merely
receiving COUNT events -- no parsing beyond what the library does, no storage.

    PYTHONPATH=.cache/qemu-src/qemu-7.2.0/python python3 bench/agent_receive.py SOCKET COUNT
"""
import asyncio
import sys

from qemu.qmp import QMPClient


async def main(path: str, count: int) -> int:
    qmp = QMPClient('bench')
    await qmp.connect(path)
    received = 0
    while received < count:
        await qmp.events.get()
        received += 1
    try:
        await qmp.disconnect()
    except EOFError:
        pass  # the server hung up after its last event, as a VM that exits does
    print(received)
    return 0


if __name__ == '__main__':
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]))))
