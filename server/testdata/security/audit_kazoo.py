#!/usr/bin/python3
"""The writes of server/interop_test.go TestAuditLogLikeZooKeeper, through kazoo.

usage: /usr/bin/python3 -u audit_kazoo.py HOST:PORT

Every kind of change the audit log records, successful and failed: creates of
each mode, setData, setAcl, delete, a multi that succeeds and one that fails,
and a session whose close deletes its ephemerals. Reads, which are not
audited, are mixed in. Prints "# done" at the end.
"""
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from kazoo.security import make_acl

c = KazooClient(hosts=sys.argv[1], timeout=15)
c.start(timeout=15)
c.create("/a", b"x")
try:
    c.create("/a", b"x")
except NodeExistsError:
    pass
c.create("/s-", b"", sequence=True)
c.set("/a", b"y")
try:
    c.set("/a", b"z", version=99)
except BadVersionError:
    pass
c.get("/a")
c.set_acls("/a", [make_acl("world", "anyone", all=True), make_acl("digest", "bob:abc=", read=True)])
try:
    c.delete("/nope")
except NoNodeError:
    pass
t = c.transaction()
t.create("/m")
t.set_data("/m", b"v")
t.check("/m", 1)
t.delete("/m")
t.commit()
t = c.transaction()
t.create("/m2")
t.create("/a")
t.commit()
c.delete("/a")
c.get_children("/")

e = KazooClient(hosts=sys.argv[1], timeout=15)
e.start(timeout=15)
e.create("/e", b"", ephemeral=True)
e.create("/es-", b"", ephemeral=True, sequence=True)
e.stop()
e.close()
c.sync("/")
c.stop()
c.close()
print("# done", flush=True)
