#!/usr/bin/python3
"""kazoo 2.8 (Debian python3-kazoo) against one ZooKeeper-compatible server, for
TestKazoo in ../kazoo_test.go.

usage: /usr/bin/python3 -u kazoo_compat.py HOST:PORT PROXY_HOST:PORT

Prints one line per check, "ok NAME" or "FAIL NAME: DETAIL", with "# " lines of
context before a failure, and "# done" at the end. A failed check does not stop the
run; an exception ends only its section. Every wait is bounded.

Session loss goes through PROXY, a TCP proxy to the same server run by the test:
the script prints "@cut" or "@heal" and reads one line from stdin once the test has
cut every proxied connection (refusing new ones) or lets connections through again.
"""
import sys
import threading
import time
import traceback

from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    LockTimeout,
    NoNodeError,
    NodeExistsError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import EventType, KazooState
from kazoo.recipe.cache import TreeCache, TreeEvent

HOSTS = sys.argv[1]
PROXY = sys.argv[2]
BASE = "/kazoo-compat"
WAIT = 30  # bound on every wait for something that must happen
NEG = 0.3  # a wait for something that cannot happen
CLIENTS = []
OUT = threading.Lock()

# Quick reconnects: the retry delay stays under a second.
FAST_RETRY = {"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5}
# Commands retried until they succeed (optimistic recipes such as Counter).
PATIENT = {"max_tries": 200, "delay": 0.01, "backoff": 1.2, "max_delay": 0.1}


def say(line):
    with OUT:
        print(line, flush=True)


def check(name, ok, detail="condition is false"):
    say(("ok %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    return ok


def context(text):
    for line in text.rstrip("\n").split("\n")[-25:]:
        say("# " + line)


def section(name, fn):
    say("# section " + name)
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - a section reports, the run goes on
        context(traceback.format_exc())
        check(name + "/no-exception", False, repr(e))


def expect_raises(name, exc, fn):
    try:
        fn()
    except exc:
        check(name, True)
        return
    except Exception as e:  # noqa: BLE001
        check(name, False, "want %s, got %r" % (exc.__name__, e))
        return
    check(name, False, "want %s, got no exception" % exc.__name__)


def eventually(cond, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def client(hosts=HOSTS, **kw):
    kw.setdefault("timeout", 15)
    kw.setdefault("connection_retry", FAST_RETRY)
    c = KazooClient(hosts=hosts, **kw)
    c.start(timeout=WAIT)
    CLIENTS.append(c)
    return c


def close(c):
    try:
        c.stop()
        c.close()
    except Exception:  # noqa: BLE001
        pass


def control(word):
    """Asks the test to do word (cut, heal) and waits until it has."""
    say("@" + word)
    reply = sys.stdin.readline().strip()
    if reply != "ok":
        raise RuntimeError("control %s: test answered %r" % (word, reply))


def threads(fns, timeout=2 * WAIT):
    ths = [threading.Thread(target=f, daemon=True) for f in fns]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout)
    return all(not th.is_alive() for th in ths)


def guarded(fn, errors):
    """fn, recording an exception in errors instead of losing it in a thread."""
    def run():
        try:
            fn()
        except Exception:  # noqa: BLE001
            errors.append(traceback.format_exc())
    return run


# --- sections ------------------------------------------------------------------

def basics():
    p = BASE + "/basics"
    zk = client()
    path = zk.create(p + "/a/b", b"deep", makepath=True)
    check("basics/create-makepath", path == p + "/a/b" and zk.exists(p + "/a") is not None, path)
    data, st = zk.get(p + "/a/b")
    check("basics/get", data == b"deep" and st.version == 0 and st.dataLength == 4, repr((data, st)))
    expect_raises("basics/create-existing", NodeExistsError, lambda: zk.create(p + "/a/b"))
    expect_raises("basics/create-without-parent", NoNodeError, lambda: zk.create(p + "/x/y"))
    check("basics/set-version", zk.set(p + "/a/b", b"v1", version=0).version == 1)
    expect_raises("basics/set-stale-version", BadVersionError, lambda: zk.set(p + "/a/b", b"v2", version=0))
    expect_raises("basics/delete-not-empty", NotEmptyError, lambda: zk.delete(p + "/a"))
    zk.ensure_path(p + "/e")
    e = zk.create(p + "/e/n", b"", ephemeral=True)
    s1 = zk.create(p + "/e/s-", b"", sequence=True)
    check("basics/sequence-after-one-child", s1 == p + "/e/s-0000000001", s1)
    check("basics/ephemeral-owner", zk.exists(e).ephemeralOwner == zk.client_id[0])
    zk.sync(p)
    check("basics/sync", True)
    zk.delete(p, recursive=True)
    check("basics/delete-recursive", zk.exists(p) is None)


def transactions():
    p = BASE + "/txn"
    zk = client()
    zk.create(p)
    zk.create(p + "/old")
    t = zk.transaction()
    t.create(p + "/t", b"t")
    t.create(p + "/t/kid", b"k")
    t.set_data(p + "/t", b"t2")
    t.check(p, version=0)
    t.delete(p + "/old")
    res = t.commit()
    check("transaction/results", res[0] == p + "/t" and res[1] == p + "/t/kid" and res[2].version == 1
          and res[3] is True and res[4] is True, repr(res))
    check("transaction/applied", zk.get(p + "/t")[0] == b"t2" and zk.exists(p + "/old") is None)
    t = zk.transaction()
    t.create(p + "/bad-a", b"")
    t.set_data(p + "/t", b"x", version=99)
    t.create(p + "/bad-b", b"")
    res = t.commit()
    check("transaction/failed-results", isinstance(res[0], RolledBackError) and isinstance(res[1], BadVersionError)
          and isinstance(res[2], RuntimeInconsistency), repr(res))
    check("transaction/rolled-back", zk.exists(p + "/bad-a") is None and zk.exists(p + "/bad-b") is None)


def lock():
    p = BASE + "/lock"
    holder, overlaps, rounds, errors = [], [], [], []
    mu = threading.Lock()
    cs = [client() for _ in range(5)]

    def worker(c, name):
        lk = c.Lock(p, name)
        for _ in range(3):
            with lk:
                with mu:
                    holder.append(name)
                    if len(holder) > 1:
                        overlaps.append(list(holder))
                time.sleep(0.005)
                with mu:
                    holder.remove(name)
                    rounds.append(name)

    done = threads([guarded(lambda c=c, i=i: worker(c, "w%d" % i), errors) for i, c in enumerate(cs)])
    if errors:
        context(errors[0])
    check("lock/5-clients-mutual-exclusion", done and len(rounds) == 15 and not overlaps and not errors,
          "%d of 15 rounds, overlaps %r" % (len(rounds), overlaps))
    lk = cs[0].Lock(p, "main")
    check("lock/acquire", lk.acquire(timeout=WAIT))
    expect_raises("lock/contended-acquire-times-out", LockTimeout, lambda: cs[1].Lock(p, "other").acquire(timeout=NEG))
    check("lock/contenders", lk.contenders() == ["main"], repr(lk.contenders()))
    waiter, got = cs[1].Lock(p, "waiter"), threading.Event()
    th = threading.Thread(target=lambda: waiter.acquire(timeout=WAIT) and got.set(), daemon=True)
    th.start()
    check("lock/waiter-queued", eventually(lambda: lk.contenders() == ["main", "waiter"]), repr(lk.contenders()))
    close(cs[0])  # the holder's session ends
    check("lock/released-when-holder-session-closes", got.wait(WAIT))
    th.join(WAIT)
    waiter.release()


def rwlock():
    p = BASE + "/rwlock"
    c1, c2, c3 = client(), client(), client()
    r1, r2 = c1.ReadLock(p, "r1"), c2.ReadLock(p, "r2")
    check("rwlock/readers-share", r1.acquire(timeout=WAIT) and r2.acquire(timeout=WAIT))
    w = c3.WriteLock(p, "w")
    expect_raises("rwlock/writer-waits-for-readers", LockTimeout, lambda: w.acquire(timeout=NEG))
    r1.release()
    r2.release()
    check("rwlock/writer-after-readers", w.acquire(timeout=WAIT))
    expect_raises("rwlock/reader-waits-for-writer", LockTimeout, lambda: c1.ReadLock(p, "r3").acquire(timeout=NEG))
    w.release()
    r = c1.ReadLock(p, "r4")
    check("rwlock/reader-after-writer", r.acquire(timeout=WAIT))
    r.release()


def semaphore():
    p = BASE + "/semaphore"
    cs = [client() for _ in range(4)]
    s1, s2, s3 = cs[0].Semaphore(p, "s1", max_leases=2), cs[1].Semaphore(p, "s2", max_leases=2), cs[2].Semaphore(p, "s3", max_leases=2)
    check("semaphore/two-leases", s1.acquire(timeout=WAIT) and s2.acquire(timeout=WAIT))
    expect_raises("semaphore/third-lease-times-out", LockTimeout, lambda: s3.acquire(timeout=NEG))
    check("semaphore/lease-holders", sorted(s1.lease_holders()) == ["s1", "s2"], repr(s1.lease_holders()))
    s1.release()
    check("semaphore/lease-after-release", s3.acquire(timeout=WAIT))
    s2.release()
    s3.release()
    held, peak, rounds, errors = [0], [0], [], []
    mu = threading.Lock()

    def worker(c, name):
        sem = c.Semaphore(p, name, max_leases=2)
        for _ in range(3):
            with sem:
                with mu:
                    held[0] += 1
                    peak[0] = max(peak[0], held[0])
                time.sleep(0.005)
                with mu:
                    held[0] -= 1
                    rounds.append(name)

    done = threads([guarded(lambda c=c, i=i: worker(c, "x%d" % i), errors) for i, c in enumerate(cs)])
    if errors:
        context(errors[0])
    check("semaphore/4-clients-at-most-2-holders", done and len(rounds) == 12 and peak[0] <= 2 and not errors,
          "%d of 12 rounds, peak %d" % (len(rounds), peak[0]))


def election():
    p = BASE + "/election"
    ca, cb = client(), client()
    led = {"a": threading.Event(), "b": threading.Event()}
    stop = threading.Event()

    def lead(name):
        led[name].set()
        stop.wait(2 * WAIT)

    ea, eb = ca.Election(p, "cand-a"), cb.Election(p, "cand-b")
    ta = threading.Thread(target=lambda: ea.run(lead, "a"), daemon=True)
    ta.start()
    check("election/first-candidate-leads", led["a"].wait(WAIT))
    tb = threading.Thread(target=lambda: eb.run(lead, "b"), daemon=True)
    tb.start()
    check("election/contenders", eventually(lambda: eb.contenders() == ["cand-a", "cand-b"]), repr(eb.contenders()))
    check("election/second-waits", not led["b"].is_set())
    close(ca)  # kill the leader
    check("election/takeover-after-leader-killed", led["b"].wait(WAIT))
    check("election/contenders-after-takeover", eb.contenders() == ["cand-b"], repr(eb.contenders()))
    stop.set()
    tb.join(WAIT)


def counter():
    p = BASE + "/counter"
    c1, c2 = client(), client()
    n1, n2 = c1.Counter(p), c2.Counter(p)
    n1 += 5
    n1 -= 2
    n2 += 10
    check("counter/two-clients", n1.value == 13 and n2.value == 13, "%r %r" % (n1.value, n2.value))
    cs = [client(command_retry=PATIENT) for _ in range(3)]
    errors = []

    def bump(c):
        cnt = c.Counter(p)
        for _ in range(10):
            cnt += 1

    done = threads([guarded(lambda c=c: bump(c), errors) for c in cs])
    if errors:
        context(errors[0])
    check("counter/concurrent-increments", done and not errors and n1.value == 43, repr(n1.value))
    f = c1.Counter(p + "-float", default=0.0)
    f += 1.5
    check("counter/float", f.value == 1.5, repr(f.value))


def queues():
    p = BASE + "/queue"
    c1, c2 = client(), client()
    q1, q2 = c1.Queue(p + "/q"), c2.Queue(p + "/q")
    for i in range(5):
        q1.put(("item-%d" % i).encode())
    q1.put(b"urgent", priority=1)
    check("queue/len", len(q2) == 6, repr(len(q2)))
    got = [q2.get() for _ in range(6)]
    check("queue/priority-then-fifo", got == [b"urgent"] + [("item-%d" % i).encode() for i in range(5)], repr(got))
    check("queue/empty-get-none", q2.get() is None)
    lq1, lq2 = c1.LockingQueue(p + "/lq"), c2.LockingQueue(p + "/lq")
    lq1.put_all([b"job-1", b"job-2"])
    check("lockingqueue/get", lq2.get(timeout=WAIT) == b"job-1")
    check("lockingqueue/holds-lock", lq2.holds_lock())
    check("lockingqueue/consume", lq2.consume() and len(lq1) == 1)
    check("lockingqueue/get-after-consume", lq1.get(timeout=WAIT) == b"job-2" and lq1.consume())
    taken, errors = [], []
    th = threading.Thread(target=guarded(lambda: taken.append(lq2.get(timeout=WAIT)), errors), daemon=True)
    th.start()
    time.sleep(NEG)  # let the getter block (its outcome does not depend on this)
    lq1.put(b"late")
    th.join(WAIT + 5)
    check("lockingqueue/blocking-get-woken", taken == [b"late"] and not errors, repr(taken))
    lq2.consume()


def barriers():
    p = BASE + "/barrier"
    c1, c2, c3 = client(), client(), client()
    b1 = c1.Barrier(p + "/b")
    b1.create()
    check("barrier/wait-times-out-while-set", c2.Barrier(p + "/b").wait(timeout=NEG) is False)
    passed, errors = [], []
    ths = [threading.Thread(target=guarded(lambda c=c: passed.append(c.Barrier(p + "/b").wait(timeout=WAIT)), errors),
                            daemon=True) for c in (c2, c3)]
    for th in ths:
        th.start()
    b1.remove()
    for th in ths:
        th.join(WAIT + 5)
    check("barrier/waiters-released-on-remove", passed == [True, True] and not errors, repr(passed))

    called, entered, early, left = [0], [0], [0], [0]
    mu = threading.Lock()
    cs = [client() for _ in range(3)]
    # kazoo's enter() races with a member that leaves at once (it deletes the ready
    # node before a slow member looks for it, and that member waits for ever), so
    # members leave only once all of them are in.
    inside = threading.Barrier(3, timeout=WAIT)

    def member(c, i):
        db = c.DoubleBarrier(p + "/db", 3, identifier="m%d" % i)
        with mu:
            called[0] += 1
        db.enter()
        with mu:
            entered[0] += 1
            if called[0] < 3:
                early[0] += 1
        inside.wait()
        db.leave()
        with mu:
            left[0] += 1

    done = threads([guarded(lambda c=c, i=i: member(c, i), errors) for i, c in enumerate(cs)])
    if errors:
        context(errors[0])
    check("doublebarrier/all-enter-together", done and entered[0] == 3 and early[0] == 0, "%r entered, %r early" % (entered, early))
    check("doublebarrier/all-leave", left[0] == 3 and c1.get_children(p + "/db") == [], repr(left))


def party():
    p = BASE + "/party"
    c1, c2 = client(), client()
    a, b = c1.Party(p + "/p", "alice"), c2.Party(p + "/p", "bob")
    a.join()
    b.join()
    check("party/members", len(a) == 2 and sorted(a) == ["alice", "bob"], repr(sorted(a)))
    b.leave()
    check("party/leave", list(a) == ["alice"], repr(list(a)))
    sa, sb = c1.ShallowParty(p + "/s", "alice"), c2.ShallowParty(p + "/s", "bob")
    sa.join()
    sb.join()
    check("shallowparty/members", sorted(sa) == ["alice", "bob"], repr(sorted(sa)))
    close(c2)  # session end removes bob's ephemeral membership
    check("shallowparty/member-gone-with-session", eventually(lambda: list(sa) == ["alice"]), repr(list(sa)))


def watches():
    p = BASE + "/watch"
    zk, other = client(), client()
    zk.ensure_path(p + "/cw")
    seen_children, cw_done = [], threading.Event()

    @zk.ChildrenWatch(p + "/cw")
    def _cw(children):
        seen_children.append(sorted(children))
        if sorted(children) == ["c1", "c2"]:
            cw_done.set()

    seen_data, dw_done = [], threading.Event()

    @zk.DataWatch(p + "/dw")
    def _dw(data, stat):
        seen_data.append(data)
        if data == b"two":
            dw_done.set()

    other.create(p + "/cw/c1")
    other.create(p + "/cw/c2")
    check("childrenwatch/sees-children", cw_done.wait(WAIT), repr(seen_children))
    check("childrenwatch/first-call-empty", seen_children[0] == [], repr(seen_children))
    other.create(p + "/dw", b"one")
    other.set(p + "/dw", b"two")
    check("datawatch/sees-create-and-set", dw_done.wait(WAIT), repr(seen_data))
    check("datawatch/first-call-none", seen_data[0] is None, repr(seen_data))

    ev, fired = [], threading.Event()
    zk.get(p + "/dw", watch=lambda e: (ev.append(e), fired.set()))
    other.set(p + "/dw", b"three")
    check("watch/data-changed", fired.wait(WAIT) and ev[0].type == EventType.CHANGED and ev[0].path == p + "/dw", repr(ev))
    gone = threading.Event()
    zk.exists(p + "/dw", watch=lambda e: e.type == EventType.DELETED and gone.set())
    other.delete(p + "/dw")
    check("watch/exists-deleted", gone.wait(WAIT))


def treecache():
    p = BASE + "/tree"
    zk, other = client(), client()
    zk.create(p + "/pre", b"p", makepath=True)
    events, inited = [], threading.Event()
    mu = threading.Condition()
    names = {TreeEvent.NODE_ADDED: "added", TreeEvent.NODE_UPDATED: "updated", TreeEvent.NODE_REMOVED: "removed"}

    def listener(event):
        if event.event_type == TreeEvent.INITIALIZED:
            inited.set()
            return
        if event.event_type in names and event.event_data is not None:
            with mu:
                events.append("%s %s=%r" % (names[event.event_type], event.event_data.path[len(p):], event.event_data.data))
                mu.notify_all()

    cache = TreeCache(zk, p)
    cache.listen(listener)
    cache.start()
    check("treecache/initialized", inited.wait(WAIT))
    check("treecache/initial-nodes", cache.get_data(p + "/pre").data == b"p" and cache.get_children(p) == frozenset(["pre"]),
          repr(cache.get_children(p)))
    with mu:
        del events[:]

    def next_event():
        with mu:
            mu.wait_for(lambda: events, WAIT)
            return events.pop(0) if events else None

    # One change at a time: the cache may merge changes that follow closely.
    other.create(p + "/k", b"1")
    e = next_event()
    check("treecache/node-added", e == "added /k=b'1'", repr(e))
    other.set(p + "/k", b"2")
    e = next_event()
    check("treecache/node-updated", e == "updated /k=b'2'", repr(e))
    other.create(p + "/k/deeper", b"d")
    e = next_event()
    check("treecache/grandchild-added", e == "added /k/deeper=b'd'", repr(e))
    other.delete(p + "/k", recursive=True)
    got = [next_event(), next_event()]
    check("treecache/subtree-removed", sorted(x or "" for x in got) == ["removed /k/deeper=b'd'", "removed /k=b'2'"], repr(got))
    cache.close()


def session_loss():
    p = BASE + "/session"
    observer = client()
    observer.ensure_path(p)
    observer.create(p + "/w", b"before")

    # 1. The connection drops and comes back within the session timeout: same
    # session, ephemerals kept. kazoo tells one-shot watchers of the loss and drops
    # them; its DataWatch and ChildrenWatch recipes read again after reconnecting.
    states, suspended, back = [], threading.Event(), threading.Event()

    def listen(state):
        states.append(state)
        if state == KazooState.SUSPENDED:
            suspended.set()
        elif state == KazooState.CONNECTED and suspended.is_set():
            back.set()

    c = client(PROXY, timeout=15)
    c.add_listener(listen)
    sid = c.client_id[0]
    c.create(p + "/eph", b"", ephemeral=True)
    fired = []
    c.get(p + "/w", watch=fired.append)
    seen_data, seen_kids = [], []
    new_data, new_kid = threading.Event(), threading.Event()

    @c.DataWatch(p + "/w")
    def _dw(data, stat):
        seen_data.append(data)
        if data == b"while-disconnected":
            new_data.set()

    @c.ChildrenWatch(p)
    def _cw(children):
        seen_kids.append(sorted(children))
        if "kid" in children:
            new_kid.set()

    control("cut")
    check("session/suspended-on-connection-loss", suspended.wait(WAIT), repr(states))
    observer.set(p + "/w", b"while-disconnected")
    observer.create(p + "/kid")
    control("heal")
    check("session/reconnected", back.wait(WAIT), repr(states))
    check("session/same-session-after-reconnect", c.client_id[0] == sid)
    check("session/ephemeral-kept-across-reconnect", observer.exists(p + "/eph") is not None)
    check("session/one-shot-watch-told-of-loss", eventually(lambda: len(fired) == 1) and fired[0].type == EventType.NONE,
          repr(fired))
    check("session/datawatch-after-reconnect", new_data.wait(WAIT), repr(seen_data))
    check("session/childrenwatch-after-reconnect", new_kid.wait(WAIT), repr(seen_kids))
    changed = threading.Event()
    c.get(p + "/w", watch=lambda e: e.type == EventType.CHANGED and changed.set())
    observer.set(p + "/w", b"after")
    check("session/new-watch-after-reconnect", changed.wait(WAIT))
    close(c)

    # 2. The connection stays down past the session timeout: the server expires the
    # session and deletes its ephemerals; kazoo reports LOST, then starts a new one.
    states2, lost, again, cut = [], threading.Event(), threading.Event(), threading.Event()

    def listen2(state):
        states2.append(state)
        if state == KazooState.LOST:
            lost.set()
        elif state == KazooState.CONNECTED and lost.is_set():
            again.set()

    c = client(PROXY, timeout=4)
    c.add_listener(listen2)
    sid = c.client_id[0]
    c.create(p + "/eph2", b"", ephemeral=True)
    gone = threading.Event()
    observer.exists(p + "/eph2", watch=lambda e: e.type == EventType.DELETED and gone.set())
    control("cut")
    check("session/expired-while-cut-ephemeral-deleted", gone.wait(WAIT))
    control("heal")
    check("session/lost-after-expiry", lost.wait(WAIT), repr(states2))
    check("session/new-session-after-expiry", again.wait(WAIT) and c.client_id[0] != sid, repr(states2))
    check("session/usable-after-expiry", c.create(p + "/eph2", b"", ephemeral=True) == p + "/eph2")
    close(c)


def main():
    say("# kazoo 2.8 against %s (proxy %s)" % (HOSTS, PROXY))
    root = client()
    root.ensure_path(BASE)
    for name, fn in [("basics", basics), ("transaction", transactions), ("lock", lock), ("rwlock", rwlock),
                     ("semaphore", semaphore), ("election", election), ("counter", counter), ("queue", queues),
                     ("barrier", barriers), ("party", party), ("watch", watches), ("treecache", treecache),
                     ("session", session_loss)]:
        section(name, fn)
    section("cleanup", lambda: (root.delete(BASE, recursive=True),
                                check("cleanup/delete-recursive", root.exists(BASE) is None)))
    for c in CLIENTS:
        close(c)
    say("# done")


if __name__ == "__main__":
    main()
