"""Reconfigures an ensemble through kazoo's reconfig API.

Usage: reconfig_kazoo.py HOSTS JOINING_LINE LEAVING_ID

As the super user (super:test) it adds JOINING_LINE, removes server LEAVING_ID,
tries a change from a stale config version, and prints one line per step:
"added <config>", "removed <config>", "stale <exception class>". Steps that
only say "not yet" (the new server has not joined, a change is in progress)
are retried for a bounded time.
"""
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import (ConnectionLoss, NewConfigNoQuorumError,
                              ReconfigInProcessError)

hosts, joining, leaving = sys.argv[1], sys.argv[2], sys.argv[3]
client = KazooClient(hosts=hosts, auth_data=[("digest", "super:test")], timeout=10.0)
client.start(timeout=30)


def retry(step):
    deadline = time.monotonic() + 60
    while True:
        try:
            return step()
        except (NewConfigNoQuorumError, ReconfigInProcessError, ConnectionLoss):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def text(data):
    return data.decode().strip().replace("\n", "|")


data, stat = retry(lambda: client.reconfig(joining=joining, leaving=None, new_members=None))
print("added", text(data), flush=True)
stale = stat.mzxid
data, stat = retry(lambda: client.reconfig(joining=None, leaving=leaving, new_members=None))
print("removed", text(data), flush=True)
try:
    client.reconfig(joining=None, leaving=leaving, new_members=None, from_config=stale)
    print("stale accepted", flush=True)
except Exception as e:  # the class name is what the test compares
    print("stale", type(e).__name__, flush=True)
client.stop()
