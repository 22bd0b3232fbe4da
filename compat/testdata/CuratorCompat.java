// Curator 5.4 (Debian jars) against one ZooKeeper-compatible server, for
// TestCurator in ../curator_test.go.
//
// usage: java -cp CLASSES:JARS CuratorCompat HOST:PORT
//
// Prints one line per check, "ok NAME" or "FAIL NAME: DETAIL", with "# " lines of
// context (stack traces) before a failure, and "# done" at the end. A failed check
// does not stop the run; an exception ends only its section. Every wait is bounded
// and no check depends on how fast the server answers.

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.api.transaction.OperationType;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.atomic.PromotedToLock;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.recipes.queue.DistributedQueue;
import org.apache.curator.framework.recipes.queue.QueueBuilder;
import org.apache.curator.framework.recipes.queue.QueueConsumer;
import org.apache.curator.framework.recipes.queue.QueueSerializer;
import org.apache.curator.framework.recipes.queue.SimpleDistributedQueue;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.recipes.watch.PersistentWatcher;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;

public class CuratorCompat {
    static String hosts;
    static final String BASE = "/curator-compat";
    static final long WAIT_S = 30; // bound on every wait for something that must happen
    static final long NEG_MS = 300; // a wait for something that cannot happen
    static final List<CuratorFramework> clients = new CopyOnWriteArrayList<>();

    // --- reporting

    static synchronized boolean check(String name, boolean ok, String detail) {
        System.out.println(ok ? "ok " + name : "FAIL " + name + ": " + detail);
        System.out.flush();
        return ok;
    }

    static boolean check(String name, boolean ok) {
        return check(name, ok, "condition is false");
    }

    static synchronized void context(Throwable t) {
        StringWriter sw = new StringWriter();
        t.printStackTrace(new PrintWriter(sw));
        String[] lines = sw.toString().split("\n");
        for (int i = 0; i < Math.min(lines.length, 25); i++) System.out.println("# " + lines[i]);
    }

    interface Body { void run() throws Exception; }

    interface Cond { boolean get() throws Exception; }

    static void section(String name, Body b) {
        System.out.println("# section " + name);
        try {
            b.run();
        } catch (Throwable t) {
            context(t);
            check(name + "/no-exception", false, t.toString());
        }
    }

    static void expectThrows(String name, Class<? extends Throwable> cls, Body b) {
        try {
            b.run();
        } catch (Throwable t) {
            if (!cls.isInstance(t)) context(t);
            check(name, cls.isInstance(t), "want " + cls.getSimpleName() + ", got " + t);
            return;
        }
        check(name, false, "want " + cls.getSimpleName() + ", got no exception");
    }

    /** Polls cond every 50 ms until it holds or WAIT_S pass. */
    static boolean eventually(Cond cond) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (true) {
            if (cond.get()) return true;
            if (System.nanoTime() > deadline) return false;
            Thread.sleep(50);
        }
    }

    /** Runs body in a new thread and returns its result (null if it failed or hung). */
    static <T> T inThread(java.util.concurrent.Callable<T> body) throws InterruptedException {
        AtomicReference<T> out = new AtomicReference<>();
        Thread th = new Thread(() -> {
            try {
                out.set(body.call());
            } catch (Exception e) {
                context(e);
            }
        });
        th.start();
        th.join(TimeUnit.SECONDS.toMillis(WAIT_S));
        return out.get();
    }

    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    static String s(byte[] b) { return b == null ? null : new String(b, StandardCharsets.UTF_8); }

    static CuratorFramework client() throws Exception {
        return client(CuratorFrameworkFactory.builder());
    }

    static CuratorFramework client(CuratorFrameworkFactory.Builder builder) throws Exception {
        CuratorFramework c = builder.connectString(hosts)
                .sessionTimeoutMs(15000)
                .connectionTimeoutMs(15000)
                .retryPolicy(new ExponentialBackoffRetry(100, 5))
                .build();
        c.start();
        if (!c.blockUntilConnected((int) WAIT_S, TimeUnit.SECONDS)) {
            throw new IllegalStateException("client not connected within " + WAIT_S + " s");
        }
        clients.add(c);
        return c;
    }

    static long sessionId(CuratorFramework c) throws Exception {
        return c.getZookeeperClient().getZooKeeper().getSessionId();
    }

    static boolean exists(CuratorFramework c, String path) throws Exception {
        return c.checkExists().forPath(path) != null;
    }

    // The children of path; none when path is gone. The parent of a lock's or a
    // latch's nodes is a container, which the server's reaper (every 500 ms here)
    // may delete as soon as it is empty.
    static List<String> childrenOrNone(CuratorFramework c, String path) throws Exception {
        try {
            return c.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException e) {
            return new ArrayList<>();
        }
    }

    static List<String> sorted(List<String> l) {
        List<String> out = new ArrayList<>(l);
        Collections.sort(out);
        return out;
    }

    public static void main(String[] args) {
        hosts = args[0];
        System.out.println("# Curator 5.4 against " + hosts);
        try {
            run();
        } catch (Throwable t) {
            context(t);
            check("setup", false, t.toString());
        }
        for (CuratorFramework c : clients) {
            try { c.close(); } catch (Throwable ignored) { }
        }
        System.out.println("# done");
        System.out.flush();
        Runtime.getRuntime().halt(0); // recipe threads may linger
    }

    static void run() throws Exception {
        CuratorFramework root = client();
        root.create().forPath(BASE);

        section("basics", CuratorCompat::basics);
        section("transaction", CuratorCompat::transactions);
        section("container", CuratorCompat::containers);
        section("ttl", CuratorCompat::ttl);
        section("mutex", CuratorCompat::mutex);
        section("rwlock", CuratorCompat::rwlock);
        section("semaphore", CuratorCompat::semaphore);
        section("leaderlatch", CuratorCompat::leaderLatch);
        section("leaderselector", CuratorCompat::leaderSelector);
        section("curatorcache", CuratorCompat::curatorCache);
        section("queue", CuratorCompat::queues);
        section("barrier", CuratorCompat::barrier);
        section("doublebarrier", CuratorCompat::doubleBarrier);
        section("sharedcount", CuratorCompat::sharedCount);
        section("atomiclong", CuratorCompat::atomicLong);
        section("persistentnode", CuratorCompat::persistentNode);
        section("persistentwatcher", CuratorCompat::persistentWatcher);

        section("cleanup", () -> {
            root.delete().deletingChildrenIfNeeded().forPath(BASE);
            check("cleanup/deletingChildrenIfNeeded-base", !exists(root, BASE));
        });
    }

    // --- sections

    static void basics() throws Exception {
        String p = BASE + "/basics";
        CuratorFramework c = client();
        String deep = c.create().creatingParentsIfNeeded().forPath(p + "/a/b/c", b("deep"));
        check("basics/creatingParentsIfNeeded", deep.equals(p + "/a/b/c") && exists(c, p + "/a/b"), deep);
        Stat st = c.checkExists().forPath(deep);
        check("basics/checkExists-stat", st != null && st.getVersion() == 0 && st.getDataLength() == 4
                && st.getNumChildren() == 0 && st.getEphemeralOwner() == 0, String.valueOf(st));
        check("basics/checkExists-missing", c.checkExists().forPath(p + "/none") == null);
        Stat st2 = new Stat();
        String got = s(c.getData().storingStatIn(st2).forPath(deep));
        check("basics/getData-storingStatIn", "deep".equals(got) && st2.getVersion() == 0, got + " " + st2);
        check("basics/setData-withVersion", c.setData().withVersion(0).forPath(deep, b("v1")).getVersion() == 1);
        expectThrows("basics/setData-stale-version", KeeperException.BadVersionException.class,
                () -> c.setData().withVersion(0).forPath(deep, b("v2")));
        expectThrows("basics/create-existing", KeeperException.NodeExistsException.class, () -> c.create().forPath(deep));
        expectThrows("basics/create-without-parent", KeeperException.NoNodeException.class,
                () -> c.create().forPath(p + "/x/y"));
        expectThrows("basics/delete-not-empty", KeeperException.NotEmptyException.class, () -> c.delete().forPath(p + "/a"));
        expectThrows("basics/delete-stale-version", KeeperException.BadVersionException.class,
                () -> c.delete().withVersion(7).forPath(deep));
        c.create().orSetData().forPath(deep, b("v3"));
        check("basics/create-orSetData", "v3".equals(s(c.getData().forPath(deep))));
        c.create().creatingParentsIfNeeded().forPath(p + "/a/b2/c2/d2");
        List<String> kids = sorted(c.getChildren().forPath(p + "/a"));
        check("basics/getChildren", kids.equals(List.of("b", "b2")), kids.toString());
        c.delete().deletingChildrenIfNeeded().forPath(p + "/a");
        check("basics/deletingChildrenIfNeeded", !exists(c, p + "/a"));
        c.delete().quietly().forPath(p + "/never-existed");
        check("basics/delete-quietly-missing", true);

        CuratorFramework c2 = client();
        String eph = c2.create().withMode(CreateMode.EPHEMERAL).forPath(p + "/eph", b("e"));
        check("basics/ephemeral-owner", c.checkExists().forPath(eph).getEphemeralOwner() == sessionId(c2));
        expectThrows("basics/no-children-for-ephemerals", KeeperException.NoChildrenForEphemeralsException.class,
                () -> c.create().forPath(eph + "/kid"));
        String s1 = c.create().creatingParentsIfNeeded().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(p + "/seq/n-");
        String s2 = c.create().withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath(p + "/seq/n-");
        check("basics/sequential-names", s1.equals(p + "/seq/n-0000000000") && s2.equals(p + "/seq/n-0000000001"), s1 + " " + s2);
        String prot = c.create().creatingParentsIfNeeded().withProtection()
                .withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath(p + "/prot/job-");
        check("basics/withProtection", prot.startsWith(p + "/prot/_c_") && prot.matches(".*job-\\d{10}$"), prot);
        c2.close();
        check("basics/ephemeral-deleted-on-close", eventually(() -> !exists(c, eph)));

        CountDownLatch synced = new CountDownLatch(1);
        c.sync().inBackground((cf, ev) -> synced.countDown()).forPath(p);
        check("basics/sync", synced.await(WAIT_S, TimeUnit.SECONDS));

        CuratorFramework ns = c.usingNamespace("curator-compat/basics/ns");
        ns.create().creatingParentsIfNeeded().forPath("/x", b("1"));
        check("basics/usingNamespace", exists(c, p + "/ns/x") && "1".equals(s(ns.getData().forPath("/x"))));

        CuratorFramework alice = client(CuratorFrameworkFactory.builder().authorization("digest", b("alice:secret")));
        alice.create().withACL(ZooDefs.Ids.CREATOR_ALL_ACL).forPath(p + "/secure", b("s"));
        expectThrows("basics/acl-denies-other", KeeperException.NoAuthException.class, () -> c.getData().forPath(p + "/secure"));
        check("basics/acl-allows-owner", "s".equals(s(alice.getData().forPath(p + "/secure"))));
        List<ACL> acl = alice.getACL().forPath(p + "/secure");
        check("basics/getACL", acl.size() == 1 && acl.get(0).getId().getScheme().equals("digest")
                && acl.get(0).getId().getId().startsWith("alice:"), acl.toString());
        alice.setACL().withACL(ZooDefs.Ids.OPEN_ACL_UNSAFE).forPath(p + "/secure");
        check("basics/setACL", "s".equals(s(c.getData().forPath(p + "/secure"))));
    }

    static void transactions() throws Exception {
        String p = BASE + "/txn";
        CuratorFramework c = client();
        c.create().forPath(p);
        c.create().forPath(p + "/old");
        List<CuratorOp> ops = List.of(
                c.transactionOp().create().forPath(p + "/t1", b("a")),
                c.transactionOp().create().forPath(p + "/t1/kid", b("k")),
                c.transactionOp().setData().forPath(p + "/t1", b("b")),
                c.transactionOp().check().withVersion(0).forPath(p),
                c.transactionOp().delete().forPath(p + "/old"),
                c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(p + "/s-"),
                c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(p + "/s-"));
        List<CuratorTransactionResult> res = c.transaction().forOperations(ops);
        List<OperationType> types = new ArrayList<>();
        for (CuratorTransactionResult r : res) types.add(r.getType());
        check("transaction/result-types", types.equals(List.of(OperationType.CREATE, OperationType.CREATE,
                OperationType.SET_DATA, OperationType.CHECK, OperationType.DELETE, OperationType.CREATE, OperationType.CREATE)),
                types.toString());
        check("transaction/result-paths-and-stat", res.get(0).getResultPath().equals(p + "/t1")
                && res.get(2).getResultStat() != null && res.get(2).getResultStat().getVersion() == 1,
                res.get(0).getResultPath() + " " + res.get(2).getResultStat());
        // /txn had /old and /t1 created before: the suffixes continue from 2.
        check("transaction/sequential-in-one-multi", res.get(5).getResultPath().equals(p + "/s-0000000002")
                && res.get(6).getResultPath().equals(p + "/s-0000000003"),
                res.get(5).getResultPath() + " " + res.get(6).getResultPath());
        check("transaction/applied", "b".equals(s(c.getData().forPath(p + "/t1"))) && exists(c, p + "/t1/kid")
                && !exists(c, p + "/old"));

        List<CuratorOp> bad = List.of(
                c.transactionOp().create().forPath(p + "/bad-a", b("")),
                c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(p + "/s-"),
                c.transactionOp().check().withVersion(42).forPath(p),
                c.transactionOp().create().forPath(p + "/bad-b", b("")));
        expectThrows("transaction/failing-op-throws-BadVersion", KeeperException.BadVersionException.class,
                () -> c.transaction().forOperations(bad));
        check("transaction/rolled-back", !exists(c, p + "/bad-a") && !exists(c, p + "/bad-b")
                && sorted(c.getChildren().forPath(p)).equals(List.of("s-0000000002", "s-0000000003", "t1")));
        // A rolled-back sequential create gives its number back.
        String next = c.create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(p + "/s-");
        check("transaction/rollback-restores-sequence", next.equals(p + "/s-0000000004"), next);
    }

    static void containers() throws Exception {
        String p = BASE + "/container";
        CuratorFramework c = client();
        c.create().forPath(p);
        c.create().withMode(CreateMode.CONTAINER).forPath(p + "/ctr");
        c.create().withMode(CreateMode.CONTAINER).forPath(p + "/unused");
        c.create().forPath(p + "/ctr/kid");
        check("container/ephemeralOwner-0", c.checkExists().forPath(p + "/ctr").getEphemeralOwner() == 0);
        c.delete().forPath(p + "/ctr/kid");
        check("container/reaped-when-emptied", eventually(() -> !exists(c, p + "/ctr")));
        // The scan that reaped /ctr also saw /unused, which never had a child.
        check("container/never-used-kept", exists(c, p + "/unused"));

        c.create().creatingParentContainersIfNeeded().forPath(p + "/pc/a/leaf");
        c.delete().forPath(p + "/pc/a/leaf");
        check("container/creatingParentContainersIfNeeded-reaped",
                eventually(() -> !exists(c, p + "/pc/a") && !exists(c, p + "/pc")));
        c.createContainers(p + "/cc/x");
        check("container/createContainers", exists(c, p + "/cc/x"));
    }

    static void ttl() throws Exception {
        String p = BASE + "/ttl";
        CuratorFramework c = client();
        c.create().forPath(p);
        c.create().withTtl(600000).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath(p + "/long", b("l"));
        check("ttl/ephemeralOwner-0", c.checkExists().forPath(p + "/long").getEphemeralOwner() == 0);
        String seq = c.create().withTtl(600000).withMode(CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL).forPath(p + "/seq-");
        check("ttl/sequential-name", seq.matches(java.util.regex.Pattern.quote(p) + "/seq-\\d{10}"), seq);
        c.create().withTtl(1).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath(p + "/parent");
        c.create().forPath(p + "/parent/kid");
        c.create().withTtl(1).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath(p + "/short", b("s"));
        check("ttl/expired-node-reaped", eventually(() -> !exists(c, p + "/short")));
        // /parent expired before /short and was scanned with it, but has a child.
        check("ttl/expired-node-with-child-kept", exists(c, p + "/parent"));
        check("ttl/unexpired-kept", exists(c, p + "/long") && exists(c, seq));
        c.delete().forPath(p + "/parent/kid");
        check("ttl/reaped-once-childless", eventually(() -> !exists(c, p + "/parent")));
    }

    static void mutex() throws Exception {
        String p = BASE + "/mutex";
        List<CuratorFramework> cs = new ArrayList<>();
        for (int i = 0; i < 6; i++) cs.add(client());
        InterProcessMutex m0 = new InterProcessMutex(cs.get(0), p);
        check("mutex/acquire", m0.acquire(WAIT_S, TimeUnit.SECONDS));
        check("mutex/reentrant", m0.acquire(WAIT_S, TimeUnit.SECONDS) && m0.isOwnedByCurrentThread());
        InterProcessMutex m1 = new InterProcessMutex(cs.get(1), p);
        Boolean got = inThread(() -> {
            boolean ok = m1.acquire(NEG_MS, TimeUnit.MILLISECONDS);
            if (ok) m1.release();
            return ok;
        });
        check("mutex/held-lock-refused", Boolean.FALSE.equals(got), String.valueOf(got));
        check("mutex/one-participant", m0.getParticipantNodes().size() == 1, m0.getParticipantNodes().toString());
        m0.release();
        m0.release();

        // 6 clients, one thread each, 5 rounds: never two holders at once.
        AtomicInteger inside = new AtomicInteger(), overlaps = new AtomicInteger(), done = new AtomicInteger();
        List<Thread> ths = new ArrayList<>();
        for (CuratorFramework cf : cs) {
            Thread th = new Thread(() -> {
                InterProcessMutex m = new InterProcessMutex(cf, p);
                try {
                    for (int i = 0; i < 5; i++) {
                        if (!m.acquire(WAIT_S, TimeUnit.SECONDS)) return;
                        try {
                            if (inside.incrementAndGet() > 1) overlaps.incrementAndGet();
                            Thread.sleep(2);
                            inside.decrementAndGet();
                            done.incrementAndGet();
                        } finally {
                            m.release();
                        }
                    }
                } catch (Exception e) {
                    context(e);
                }
            });
            ths.add(th);
            th.start();
        }
        for (Thread th : ths) th.join(TimeUnit.SECONDS.toMillis(2 * WAIT_S));
        check("mutex/6-clients-mutual-exclusion", done.get() == 30 && overlaps.get() == 0,
                done.get() + " of 30 rounds, " + overlaps.get() + " overlaps");
        check("mutex/lock-nodes-removed", childrenOrNone(cs.get(0), p).isEmpty());

        // A holder's session ends: the next client gets the lock.
        InterProcessMutex h = new InterProcessMutex(cs.get(2), p);
        check("mutex/acquire-before-session-close", h.acquire(WAIT_S, TimeUnit.SECONDS));
        InterProcessMutex w = new InterProcessMutex(cs.get(3), p);
        CountDownLatch started = new CountDownLatch(1);
        AtomicBoolean wGot = new AtomicBoolean();
        Thread waiter = new Thread(() -> {
            try {
                started.countDown();
                if (w.acquire(WAIT_S, TimeUnit.SECONDS)) {
                    wGot.set(true);
                    w.release();
                }
            } catch (Exception e) {
                context(e);
            }
        });
        waiter.start();
        started.await();
        cs.get(2).close();
        waiter.join(TimeUnit.SECONDS.toMillis(WAIT_S + 5));
        check("mutex/released-when-holder-session-closes", wGot.get());
    }

    static void rwlock() throws Exception {
        String p = BASE + "/rwlock";
        CuratorFramework c1 = client(), c2 = client(), c3 = client();
        InterProcessReadWriteLock rw1 = new InterProcessReadWriteLock(c1, p);
        InterProcessReadWriteLock rw2 = new InterProcessReadWriteLock(c2, p);
        InterProcessReadWriteLock rw3 = new InterProcessReadWriteLock(c3, p);
        check("rwlock/readers-share", rw1.readLock().acquire(WAIT_S, TimeUnit.SECONDS)
                && rw2.readLock().acquire(WAIT_S, TimeUnit.SECONDS));
        Boolean wr = inThread(() -> {
            boolean ok = rw3.writeLock().acquire(NEG_MS, TimeUnit.MILLISECONDS);
            if (ok) rw3.writeLock().release();
            return ok;
        });
        check("rwlock/writer-waits-for-readers", Boolean.FALSE.equals(wr), String.valueOf(wr));
        rw1.readLock().release();
        rw2.readLock().release();
        check("rwlock/writer-after-readers", rw3.writeLock().acquire(WAIT_S, TimeUnit.SECONDS));
        Boolean rd = inThread(() -> {
            boolean ok = rw1.readLock().acquire(NEG_MS, TimeUnit.MILLISECONDS);
            if (ok) rw1.readLock().release();
            return ok;
        });
        check("rwlock/reader-waits-for-writer", Boolean.FALSE.equals(rd), String.valueOf(rd));
        check("rwlock/writer-may-read", rw3.readLock().acquire(WAIT_S, TimeUnit.SECONDS));
        rw3.readLock().release();
        rw3.writeLock().release();
        check("rwlock/reader-after-writer", rw1.readLock().acquire(WAIT_S, TimeUnit.SECONDS));
        rw1.readLock().release();
    }

    static void semaphore() throws Exception {
        String p = BASE + "/semaphore";
        List<CuratorFramework> cs = new ArrayList<>();
        for (int i = 0; i < 5; i++) cs.add(client());
        InterProcessSemaphoreV2 s1 = new InterProcessSemaphoreV2(cs.get(0), p, 2);
        InterProcessSemaphoreV2 s2 = new InterProcessSemaphoreV2(cs.get(1), p, 2);
        InterProcessSemaphoreV2 s3 = new InterProcessSemaphoreV2(cs.get(2), p, 2);
        Lease l1 = s1.acquire(WAIT_S, TimeUnit.SECONDS), l2 = s2.acquire(WAIT_S, TimeUnit.SECONDS);
        check("semaphore/two-leases", l1 != null && l2 != null);
        Lease none = s3.acquire(NEG_MS, TimeUnit.MILLISECONDS);
        check("semaphore/third-lease-refused", none == null);
        if (none != null) s3.returnLease(none);
        check("semaphore/participants", s1.getParticipantNodes().size() == 2, s1.getParticipantNodes().toString());
        s1.returnLease(l1);
        Lease l3 = s3.acquire(WAIT_S, TimeUnit.SECONDS);
        check("semaphore/lease-after-return", l3 != null);
        s2.returnLease(l2);
        s3.returnLease(l3);

        AtomicInteger holders = new AtomicInteger(), max = new AtomicInteger(), done = new AtomicInteger();
        List<Thread> ths = new ArrayList<>();
        for (CuratorFramework cf : cs) {
            Thread th = new Thread(() -> {
                InterProcessSemaphoreV2 sem = new InterProcessSemaphoreV2(cf, p, 2);
                try {
                    for (int i = 0; i < 3; i++) {
                        Lease l = sem.acquire(WAIT_S, TimeUnit.SECONDS);
                        if (l == null) return;
                        int n = holders.incrementAndGet();
                        max.accumulateAndGet(n, Math::max);
                        Thread.sleep(2);
                        holders.decrementAndGet();
                        done.incrementAndGet();
                        sem.returnLease(l);
                    }
                } catch (Exception e) {
                    context(e);
                }
            });
            ths.add(th);
            th.start();
        }
        for (Thread th : ths) th.join(TimeUnit.SECONDS.toMillis(2 * WAIT_S));
        check("semaphore/5-clients-at-most-2-holders", done.get() == 15 && max.get() <= 2,
                done.get() + " of 15 rounds, max " + max.get() + " holders");
    }

    static void leaderLatch() throws Exception {
        String p = BASE + "/leaderlatch";
        List<CuratorFramework> cs = new ArrayList<>();
        List<LeaderLatch> ls = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            CuratorFramework c = client();
            cs.add(c);
            LeaderLatch l = new LeaderLatch(c, p, "latch-" + i);
            ls.add(l);
            l.start();
        }
        check("leaderlatch/one-leader", eventually(() -> ls.stream().filter(LeaderLatch::hasLeadership).count() == 1));
        int leader = -1;
        for (int i = 0; i < 3; i++) if (ls.get(i).hasLeadership()) leader = i;
        String id = "latch-" + leader;
        boolean agree = true;
        for (LeaderLatch l : ls) agree &= l.getLeader().getId().equals(id);
        check("leaderlatch/all-see-leader", agree);
        check("leaderlatch/participants", ls.get(0).getParticipants().size() == 3);
        final int dead = leader;
        cs.get(dead).close(); // kill the leader: its session and latch node go away
        check("leaderlatch/new-leader-after-leader-killed", eventually(() -> {
            long n = 0;
            for (int i = 0; i < 3; i++) if (i != dead && ls.get(i).hasLeadership()) n++;
            return n == 1;
        }));
        int next = -1;
        for (int i = 0; i < 3; i++) if (i != dead && ls.get(i).hasLeadership()) next = i;
        int other = -1;
        for (int i = 0; i < 3; i++) if (i != dead && i != next) other = i;
        final int survivor = other;
        check("leaderlatch/survivors-see-new-leader", next >= 0 && survivor >= 0
                && ls.get(survivor).getLeader().getId().equals("latch-" + next));
        for (int i = 0; i < 3; i++) if (i != dead) ls.get(i).close();
        check("leaderlatch/nodes-removed-on-close", survivor >= 0
                && eventually(() -> childrenOrNone(cs.get(survivor), p).isEmpty()));
    }

    static void leaderSelector() throws Exception {
        String p = BASE + "/leaderselector";
        Map<String, CountDownLatch> release = new ConcurrentHashMap<>();
        Map<String, Boolean> dead = new ConcurrentHashMap<>();
        AtomicReference<String> current = new AtomicReference<>();
        AtomicInteger overlaps = new AtomicInteger();
        BlockingQueue<String> leaders = new LinkedBlockingQueue<>();
        List<CuratorFramework> cs = new ArrayList<>();
        List<LeaderSelector> sel = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String id = "sel-" + i;
            CuratorFramework c = client();
            cs.add(c);
            LeaderSelector s = new LeaderSelector(c, p, new LeaderSelectorListenerAdapter() {
                @Override
                public void takeLeadership(CuratorFramework cf) throws Exception {
                    String prev = current.getAndSet(id);
                    if (prev != null && !dead.containsKey(prev)) overlaps.incrementAndGet();
                    CountDownLatch l = new CountDownLatch(1);
                    release.put(id, l);
                    leaders.add(id);
                    try {
                        l.await();
                    } finally {
                        current.compareAndSet(id, null);
                    }
                }
            });
            s.setId(id);
            s.autoRequeue();
            sel.add(s);
        }
        for (LeaderSelector s : sel) s.start();
        String first = leaders.poll(WAIT_S, TimeUnit.SECONDS);
        check("leaderselector/first-leader", first != null);
        if (first == null) return;
        check("leaderselector/getLeader", sel.get(0).getLeader().getId().equals(first), sel.get(0).getLeader().getId());
        int fi = Integer.parseInt(first.substring(4));
        dead.put(first, true); // kill the leader: close its client
        current.compareAndSet(first, null);
        cs.get(fi).close();
        String second = leaders.poll(WAIT_S, TimeUnit.SECONDS);
        check("leaderselector/takeover-after-leader-killed", second != null && !second.equals(first), String.valueOf(second));
        if (second == null) return;
        release.get(second).countDown(); // relinquish: autoRequeue puts it back in line
        String third = leaders.poll(WAIT_S, TimeUnit.SECONDS);
        check("leaderselector/next-in-line-after-relinquish", third != null && !third.equals(first) && !third.equals(second),
                String.valueOf(third));
        check("leaderselector/never-two-leaders", overlaps.get() == 0, overlaps.get() + " overlaps");
        for (int i = 0; i < 3; i++) {
            if (i == fi) continue;
            for (CountDownLatch l : release.values()) l.countDown();
            sel.get(i).close();
        }
    }

    static void curatorCache() throws Exception {
        String p = BASE + "/cache";
        CuratorFramework c1 = client(), c2 = client();
        c1.create().forPath(p, b("root"));
        c1.create().forPath(p + "/pre", b("p"));
        BlockingQueue<String> ev = new LinkedBlockingQueue<>();
        CountDownLatch init = new CountDownLatch(1);
        CuratorCache cache = CuratorCache.build(c1, p);
        int n = p.length();
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(d -> ev.add("create " + d.getPath().substring(n) + "=" + s(d.getData())))
                .forChanges((o, d) -> ev.add("change " + d.getPath().substring(n) + "=" + s(d.getData())))
                .forDeletes(o -> ev.add("delete " + o.getPath().substring(n)))
                .forInitialized(init::countDown)
                .build());
        cache.start();
        check("curatorcache/initialized", init.await(WAIT_S, TimeUnit.SECONDS));
        check("curatorcache/has-existing-nodes", cache.get(p + "/pre").map(d -> "p".equals(s(d.getData()))).orElse(false)
                && cache.get(p).isPresent());
        ev.clear();
        // One change at a time: the cache reads data asynchronously and may merge
        // changes that follow each other closely.
        c2.create().forPath(p + "/k", b("1"));
        String e1 = ev.poll(WAIT_S, TimeUnit.SECONDS);
        check("curatorcache/create", "create /k=1".equals(e1), String.valueOf(e1));
        c2.setData().forPath(p + "/k", b("2"));
        String e2 = ev.poll(WAIT_S, TimeUnit.SECONDS);
        check("curatorcache/change", "change /k=2".equals(e2), String.valueOf(e2));
        c2.create().forPath(p + "/k/deeper", b("d"));
        String e3 = ev.poll(WAIT_S, TimeUnit.SECONDS);
        check("curatorcache/grandchild-create", "create /k/deeper=d".equals(e3), String.valueOf(e3));
        c2.setData().forPath(p, b("root2"));
        String e4 = ev.poll(WAIT_S, TimeUnit.SECONDS);
        check("curatorcache/root-change", "change =root2".equals(e4), String.valueOf(e4));
        c2.delete().deletingChildrenIfNeeded().forPath(p + "/k");
        List<String> dels = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            String e = ev.poll(WAIT_S, TimeUnit.SECONDS);
            if (e != null) dels.add(e);
        }
        check("curatorcache/subtree-delete", dels.equals(List.of("delete /k/deeper", "delete /k")), dels.toString());
        check("curatorcache/size", cache.size() == 2, String.valueOf(cache.size()));
        cache.close();
    }

    static void queues() throws Exception {
        String p = BASE + "/queue";
        CuratorFramework c1 = client(), c2 = client();
        QueueSerializer<String> ser = new QueueSerializer<String>() {
            public byte[] serialize(String item) { return b(item); }
            public String deserialize(byte[] bytes) { return s(bytes); }
        };
        List<String> consumed = new CopyOnWriteArrayList<>();
        CountDownLatch all = new CountDownLatch(5);
        QueueConsumer<String> consumer = new QueueConsumer<String>() {
            public void consumeMessage(String m) { consumed.add(m); all.countDown(); }
            public void stateChanged(CuratorFramework client, ConnectionState s) { }
        };
        DistributedQueue<String> q = QueueBuilder.builder(c2, consumer, ser, p + "/dq").buildQueue();
        q.start();
        DistributedQueue<String> producer = QueueBuilder.builder(c1, null, ser, p + "/dq").buildQueue();
        producer.start();
        for (int i = 0; i < 5; i++) producer.put("msg-" + i);
        check("queue/distributed-queue-consumed", all.await(WAIT_S, TimeUnit.SECONDS), consumed.toString());
        check("queue/distributed-queue-fifo", consumed.equals(List.of("msg-0", "msg-1", "msg-2", "msg-3", "msg-4")), consumed.toString());
        producer.close();
        q.close();

        SimpleDistributedQueue sq1 = new SimpleDistributedQueue(c1, p + "/sq");
        SimpleDistributedQueue sq2 = new SimpleDistributedQueue(c2, p + "/sq");
        check("queue/simple-poll-empty", sq2.poll() == null);
        sq1.offer(b("a"));
        sq1.offer(b("b"));
        check("queue/simple-fifo", "a".equals(s(sq2.take())) && "b".equals(s(sq2.poll(WAIT_S, TimeUnit.SECONDS))));
        CountDownLatch taking = new CountDownLatch(1);
        AtomicReference<String> taken = new AtomicReference<>();
        Thread taker = new Thread(() -> {
            try {
                taking.countDown();
                taken.set(s(sq2.poll(WAIT_S, TimeUnit.SECONDS)));
            } catch (Exception e) {
                context(e);
            }
        });
        taker.start();
        taking.await();
        sq1.offer(b("late"));
        taker.join(TimeUnit.SECONDS.toMillis(WAIT_S + 5));
        check("queue/simple-blocking-take-woken", "late".equals(taken.get()), String.valueOf(taken.get()));
    }

    static void barrier() throws Exception {
        String p = BASE + "/barrier";
        CuratorFramework c1 = client(), c2 = client(), c3 = client();
        DistributedBarrier b1 = new DistributedBarrier(c1, p);
        b1.setBarrier();
        check("barrier/wait-times-out-while-set", !new DistributedBarrier(c2, p).waitOnBarrier(NEG_MS, TimeUnit.MILLISECONDS));
        List<Thread> ths = new ArrayList<>();
        AtomicInteger passed = new AtomicInteger();
        CountDownLatch waiting = new CountDownLatch(2);
        for (CuratorFramework c : List.of(c2, c3)) {
            Thread th = new Thread(() -> {
                try {
                    waiting.countDown();
                    if (new DistributedBarrier(c, p).waitOnBarrier(WAIT_S, TimeUnit.SECONDS)) passed.incrementAndGet();
                } catch (Exception e) {
                    context(e);
                }
            });
            ths.add(th);
            th.start();
        }
        waiting.await();
        b1.removeBarrier();
        for (Thread th : ths) th.join(TimeUnit.SECONDS.toMillis(WAIT_S + 5));
        check("barrier/waiters-released-on-remove", passed.get() == 2, passed.get() + " of 2");
    }

    static void doubleBarrier() throws Exception {
        String p = BASE + "/doublebarrier";
        CuratorFramework lone = client();
        check("doublebarrier/enter-times-out-short-of-members",
                !new DistributedDoubleBarrier(lone, p + "/short", 3).enter(NEG_MS, TimeUnit.MILLISECONDS));
        AtomicInteger called = new AtomicInteger(), entered = new AtomicInteger(), early = new AtomicInteger(), left = new AtomicInteger();
        List<Thread> ths = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            CuratorFramework c = client();
            Thread th = new Thread(() -> {
                try {
                    DistributedDoubleBarrier db = new DistributedDoubleBarrier(c, p + "/full", 3);
                    called.incrementAndGet();
                    if (!db.enter(WAIT_S, TimeUnit.SECONDS)) return;
                    if (called.get() < 3) early.incrementAndGet();
                    entered.incrementAndGet();
                    if (db.leave(WAIT_S, TimeUnit.SECONDS)) left.incrementAndGet();
                } catch (Exception e) {
                    context(e);
                }
            });
            ths.add(th);
            th.start();
        }
        for (Thread th : ths) th.join(TimeUnit.SECONDS.toMillis(2 * WAIT_S + 5));
        check("doublebarrier/all-enter-together", entered.get() == 3 && early.get() == 0,
                entered.get() + " entered, " + early.get() + " before all arrived");
        check("doublebarrier/all-leave", left.get() == 3, left.get() + " of 3");
    }

    static void sharedCount() throws Exception {
        String p = BASE + "/sharedcount";
        CuratorFramework c1 = client(), c2 = client();
        SharedCount sc1 = new SharedCount(c1, p, 0);
        SharedCount sc2 = new SharedCount(c2, p, 0);
        BlockingQueue<Integer> seen = new LinkedBlockingQueue<>();
        sc2.addListener(new SharedCountListener() {
            public void countHasChanged(SharedCountReader r, int n) { seen.add(n); }
            public void stateChanged(CuratorFramework client, ConnectionState s) { }
        });
        sc1.start();
        sc2.start();
        sc1.setCount(7);
        Integer n = seen.poll(WAIT_S, TimeUnit.SECONDS);
        check("sharedcount/listener-sees-change", n != null && n == 7, String.valueOf(n));
        VersionedValue<Integer> vv = sc2.getVersionedValue();
        check("sharedcount/trySetCount-current-version", sc2.trySetCount(vv, vv.getValue() + 1));
        check("sharedcount/trySetCount-stale-version-fails", !sc1.trySetCount(vv, 100));
        check("sharedcount/value", eventually(() -> sc1.getCount() == 8), String.valueOf(sc1.getCount()));
        sc1.close();
        sc2.close();
    }

    static void atomicLong() throws Exception {
        String p = BASE + "/atomiclong";
        List<CuratorFramework> cs = new ArrayList<>();
        for (int i = 0; i < 4; i++) cs.add(client());
        AtomicInteger failures = new AtomicInteger();
        List<Thread> ths = new ArrayList<>();
        for (CuratorFramework c : cs) {
            Thread th = new Thread(() -> {
                DistributedAtomicLong al = new DistributedAtomicLong(c, p, new RetryNTimes(1000, 1));
                try {
                    for (int i = 0; i < 10; i++) if (!al.increment().succeeded()) failures.incrementAndGet();
                } catch (Exception e) {
                    context(e);
                    failures.incrementAndGet();
                }
            });
            ths.add(th);
            th.start();
        }
        for (Thread th : ths) th.join(TimeUnit.SECONDS.toMillis(2 * WAIT_S));
        DistributedAtomicLong al = new DistributedAtomicLong(cs.get(0), p, new RetryNTimes(10, 10));
        AtomicValue<Long> v = al.get();
        check("atomiclong/concurrent-increments", failures.get() == 0 && v.succeeded() && v.postValue() == 40,
                "value " + v.postValue() + ", " + failures.get() + " failed increments");
        check("atomiclong/compareAndSet", al.compareAndSet(40L, 100L).succeeded());
        check("atomiclong/compareAndSet-stale-fails", !al.compareAndSet(40L, 5L).succeeded());
        check("atomiclong/trySet-and-get", al.trySet(7L).succeeded() && al.get().postValue() == 7);
        check("atomiclong/add-and-subtract", al.add(5L).postValue() == 12 && al.subtract(2L).postValue() == 10);

        DistributedAtomicLong locked = new DistributedAtomicLong(cs.get(1), p + "-locked", new RetryNTimes(0, 0),
                PromotedToLock.builder().lockPath(p + "-lock").retryPolicy(new RetryNTimes(10, 10))
                        .timeout(WAIT_S, TimeUnit.SECONDS).build());
        for (int i = 0; i < 3; i++) locked.increment();
        check("atomiclong/promoted-to-lock", locked.get().postValue() == 3, String.valueOf(locked.get().postValue()));
    }

    static void persistentNode() throws Exception {
        String p = BASE + "/pnode";
        CuratorFramework c1 = client(), c2 = client();
        PersistentNode pn = new PersistentNode(c1, CreateMode.EPHEMERAL, false, p, b("alive"));
        pn.start();
        check("persistentnode/initial-create", pn.waitForInitialCreate(WAIT_S, TimeUnit.SECONDS));
        check("persistentnode/ephemeral-of-owner", c2.checkExists().forPath(p).getEphemeralOwner() == sessionId(c1));
        c2.delete().forPath(p);
        check("persistentnode/recreated-after-delete", eventually(() -> exists(c2, p)));
        pn.setData(b("changed"));
        check("persistentnode/setData", eventually(() -> "changed".equals(s(c2.getData().forPath(p)))));
        pn.close();
        check("persistentnode/removed-on-close", eventually(() -> !exists(c2, p)));

        PersistentNode ps = new PersistentNode(c1, CreateMode.EPHEMERAL_SEQUENTIAL, true, p + "-seq/n-", b("s"));
        ps.start();
        check("persistentnode/sequential-protected", ps.waitForInitialCreate(WAIT_S, TimeUnit.SECONDS)
                && ps.getActualPath() != null && ps.getActualPath().matches(".*/_c_.*n-\\d{10}$"), String.valueOf(ps.getActualPath()));
        ps.close();
    }

    static void persistentWatcher() throws Exception {
        String p = BASE + "/pwatch";
        CuratorFramework c1 = client(), c2 = client();
        c1.create().forPath(p);
        int n = p.length();

        BlockingQueue<String> rec = new LinkedBlockingQueue<>();
        PersistentWatcher recursive = new PersistentWatcher(c1, p, true);
        recursive.getListenable().addListener(e -> {
            if (e.getType() != Watcher.Event.EventType.None) rec.add(e.getType() + " " + e.getPath().substring(n));
        });
        CountDownLatch recReady = new CountDownLatch(1);
        recursive.getResetListenable().addListener(recReady::countDown);
        recursive.start();
        check("persistentwatcher/recursive-added", recReady.await(WAIT_S, TimeUnit.SECONDS));
        c2.create().forPath(p + "/a", b("1"));
        c2.setData().forPath(p + "/a", b("2"));
        c2.create().forPath(p + "/a/b", b("3"));
        c2.delete().forPath(p + "/a/b");
        c2.setData().forPath(p, b("r"));
        List<String> got = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            String e = rec.poll(WAIT_S, TimeUnit.SECONDS);
            if (e == null) break;
            got.add(e);
        }
        check("persistentwatcher/recursive-events", got.equals(List.of("NodeCreated /a", "NodeDataChanged /a",
                "NodeCreated /a/b", "NodeDeleted /a/b", "NodeDataChanged ")), got.toString());
        recursive.close();

        BlockingQueue<String> flat = new LinkedBlockingQueue<>();
        Watcher w = e -> {
            if (e.getType() != Watcher.Event.EventType.None) flat.add(e.getType() + " " + e.getPath().substring(n));
        };
        c1.watchers().add().withMode(org.apache.zookeeper.AddWatchMode.PERSISTENT).usingWatcher(w).forPath(p);
        c2.setData().forPath(p, b("x1"));
        c2.setData().forPath(p, b("x2"));
        c2.create().forPath(p + "/c", b(""));
        c2.setData().forPath(p + "/c", b("not seen: not recursive"));
        c2.setData().forPath(p, b("x3"));
        got.clear();
        for (int i = 0; i < 4; i++) {
            String e = flat.poll(WAIT_S, TimeUnit.SECONDS);
            if (e == null) break;
            got.add(e);
        }
        check("persistentwatcher/persistent-events", got.equals(List.of("NodeDataChanged ", "NodeDataChanged ",
                "NodeChildrenChanged ", "NodeDataChanged ")), got.toString());
        c1.watchers().remove(w).forPath(p);
        check("persistentwatcher/removeWatches", true);
        expectThrows("persistentwatcher/removeWatches-again-NoWatcher", KeeperException.NoWatcherException.class,
                () -> c1.watchers().remove(w).forPath(p));
    }
}
