# Reference receiver for bench/libvirt-burst.mjs: libvirt's own Python binding
# (Debian python3-libvirt) registered for MEMORY_FAILURE, merely counting.
#   python3 bench/libvirt_count.py COUNT URI [DOMAIN]
# (DOMAIN: that domain's events alone; else every domain's.)
# Prints "ready" once registered, then "COUNT EPOCH_SECONDS_OF_THE_LAST", and exits
# when its stdin closes (so that the bench can read its CPU time first).
import sys
import time

import libvirt

want = int(sys.argv[1])
uri = sys.argv[2]
domain_name = sys.argv[3] if len(sys.argv) > 3 else None
libvirt.virEventRegisterDefaultImpl()
conn = libvirt.open(uri)
state = {"count": 0, "last": 0.0}


def on_failure(_conn, _dom, _recipient, _action, _flags, _opaque):
    state["count"] += 1
    if state["count"] == want:
        state["last"] = time.time()


dom = None if domain_name is None else conn.lookupByName(domain_name)
conn.domainEventRegisterAny(dom, libvirt.VIR_DOMAIN_EVENT_ID_MEMORY_FAILURE, on_failure, None)
print("ready", flush=True)
while state["count"] < want:
    libvirt.virEventRunDefaultImpl()
print(f"{state['count']} {state['last']}", flush=True)
# Stay until the bench has read our CPU time (it closes our stdin).
sys.stdin.read()
