import java.io.File;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;

/**
 * Curator 5.4 and the ZooKeeper 3.8 client against a server secured as Kafka and
 * HBase deployments secure ZooKeeper, for server/interop_test.go.
 *
 * usage: java SecurityClients PLAIN SECURE PKI_DIR MODE [EXPECTED_SASL_ID]
 *
 * TLS goes through ZKClientConfig (zookeeper.client.secure, the Netty socket,
 * zookeeper.ssl.* with PEM stores from PKI_DIR); SASL through the JAAS file given
 * with -Djava.security.auth.login.config, one section per identity, chosen with
 * zookeeper.sasl.clientconfig. MODE: main, enforce, kerberos.
 *
 * Prints "ok NAME" or "FAIL NAME: DETAIL" per check and "# done" at the end.
 */
public class SecurityClients {
    static String plain, secure, pki;
    static final String BASE = "/sec-java";
    static final List<AutoCloseable> open = new ArrayList<>();

    static void say(String s) {
        System.out.println(s);
        System.out.flush();
    }

    static void check(String name, boolean ok, String detail) {
        say(ok ? "ok " + name : "FAIL " + name + ": " + detail);
    }

    interface Body {
        void run() throws Exception;
    }

    static void section(String name, Body b) {
        say("# section " + name);
        try {
            b.run();
        } catch (Throwable e) {
            for (StackTraceElement el : e.getStackTrace()) {
                say("# " + el);
            }
            check(name + "/no-exception", false, e.toString());
        }
    }

    static ZKClientConfig config(String cert, String saslSection) throws Exception {
        ZKClientConfig c = new ZKClientConfig();
        if (cert != null) {
            c.setProperty(ZKClientConfig.SECURE_CLIENT, "true");
            c.setProperty(ZKClientConfig.ZOOKEEPER_CLIENT_CNXN_SOCKET, "org.apache.zookeeper.ClientCnxnSocketNetty");
            c.setProperty("zookeeper.ssl.keyStore.location", new File(pki, cert + ".pem").getPath());
            c.setProperty("zookeeper.ssl.keyStore.type", "PEM");
            c.setProperty("zookeeper.ssl.trustStore.location", new File(pki, "ca.pem").getPath());
            c.setProperty("zookeeper.ssl.trustStore.type", "PEM");
        }
        if (saslSection == null) {
            c.setProperty(ZKClientConfig.ENABLE_CLIENT_SASL_KEY, "false");
        } else {
            c.setProperty(ZKClientConfig.LOGIN_CONTEXT_NAME_KEY, saslSection);
            c.setProperty(ZKClientConfig.ZK_SASL_CLIENT_CANONICALIZE_HOSTNAME, "false");
        }
        return c;
    }

    static CuratorFramework curator(String addr, String cert, String saslSection) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(addr).sessionTimeoutMs(15000)
                .connectionTimeoutMs(15000).retryPolicy(new RetryOneTime(200)).zkClientConfig(config(cert, saslSection))
                .build();
        c.start();
        open.add(c);
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException("Curator did not connect to " + addr);
        }
        return c;
    }

    /** A raw client and the first terminal state it reached within the wait. */
    static ZooKeeper zk(String addr, String cert, String saslSection, AtomicReference<Watcher.Event.KeeperState> state,
                        CountDownLatch settled) throws Exception {
        ZooKeeper z = new ZooKeeper(addr, 15000, ev -> {
            Watcher.Event.KeeperState s = ev.getState();
            if (s == Watcher.Event.KeeperState.SyncConnected || s == Watcher.Event.KeeperState.AuthFailed
                    || s == Watcher.Event.KeeperState.SaslAuthenticated) {
                if (s != Watcher.Event.KeeperState.SyncConnected || saslSection == null) {
                    state.compareAndSet(null, s);
                    settled.countDown();
                }
            }
        }, config(cert, saslSection));
        open.add(z);
        return z;
    }

    static ZooKeeper connected(String addr, String cert, String saslSection) throws Exception {
        AtomicReference<Watcher.Event.KeeperState> st = new AtomicReference<>();
        CountDownLatch l = new CountDownLatch(1);
        ZooKeeper z = zk(addr, cert, saslSection, st, l);
        if (!l.await(20, TimeUnit.SECONDS) || st.get() == Watcher.Event.KeeperState.AuthFailed) {
            throw new IllegalStateException("no usable session at " + addr + ": " + st.get());
        }
        return z;
    }

    /** The client never reaches a usable session within the wait. */
    static void refused(String name, String addr, String cert, String saslSection, long seconds) throws Exception {
        AtomicReference<Watcher.Event.KeeperState> st = new AtomicReference<>();
        CountDownLatch l = new CountDownLatch(1);
        ZooKeeper z = zk(addr, cert, saslSection, st, l);
        l.await(seconds, TimeUnit.SECONDS);
        Watcher.Event.KeeperState got = st.get();
        check(name, got == null || got == Watcher.Event.KeeperState.AuthFailed, "reached " + got);
        say("# " + name + ": " + got);
        z.close(2000);
    }

    static boolean hasId(List<ClientInfo> ids, String scheme, String user) {
        for (ClientInfo ci : ids) {
            if (ci.getAuthScheme().equals(scheme) && ci.getUser().equals(user)) {
                return true;
            }
        }
        return false;
    }

    static void expectCode(String name, KeeperException.Code want, Body b) {
        try {
            b.run();
            check(name, false, "want " + want + ", got no error");
        } catch (KeeperException e) {
            check(name, e.code() == want, "want " + want + ", got " + e.code());
        } catch (Throwable e) {
            check(name, false, "want " + want + ", got " + e);
        }
    }

    static void ensureBase(CuratorFramework c) throws Exception {
        if (c.checkExists().forPath(BASE) == null) {
            c.create().forPath(BASE);
        }
    }

    static List<ACL> acl(String scheme, String id) {
        return Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id(scheme, id)));
    }

    static void tls() throws Exception {
        CuratorFramework alice = curator(secure, "alice", null);
        ensureBase(alice);
        String p = BASE + "/alice";
        alice.create().withACL(acl("x509", "CN=alice,O=zkd")).forPath(p, "alice's".getBytes());
        check("curator/tls/alice-creates-and-reads", new String(alice.getData().forPath(p)).equals("alice's"), "data differs");
        List<ClientInfo> ids = alice.getZookeeperClient().getZooKeeper().whoAmI();
        check("zk/tls/whoami-x509", hasId(ids, "x509", "CN=alice,O=zkd"), ids.toString());
        CuratorFramework bob = curator(secure, "bob", null);
        expectCode("curator/tls/bob-refused-by-x509-acl", KeeperException.Code.NOAUTH, () -> bob.getData().forPath(p));
        CuratorFramework admin = curator(secure, "admin", null);
        check("curator/tls/x509-super-user-reads", new String(admin.getData().forPath(p)).equals("alice's"), "data differs");
        refused("zk/tls/expired-certificate-refused", secure, "expired", null, 6);
        refused("zk/tls/foreign-certificate-refused", secure, "foreign", null, 6);
        check("curator/tls/others-unaffected", new String(alice.getData().forPath(p)).equals("alice's"), "data differs");
    }

    static void sasl() throws Exception {
        CuratorFramework bob = curator(plain, null, "ClientBob");
        ensureBase(bob);
        String p = BASE + "/bob";
        bob.create().withACL(acl("sasl", "bob")).forPath(p, "bob's".getBytes());
        check("curator/sasl/bob-creates-and-reads", new String(bob.getData().forPath(p)).equals("bob's"), "data differs");
        List<ClientInfo> ids = bob.getZookeeperClient().getZooKeeper().whoAmI();
        check("zk/sasl/whoami-sasl", hasId(ids, "sasl", "bob"), ids.toString());
        CuratorFramework anon = curator(plain, null, null);
        expectCode("curator/sasl/anonymous-refused-by-sasl-acl", KeeperException.Code.NOAUTH, () -> anon.getData().forPath(p));
        CuratorFramework sup = curator(plain, null, "ClientSuper");
        check("curator/sasl/super-user-reads", new String(sup.getData().forPath(p)).equals("bob's"), "data differs");
        refused("zk/sasl/wrong-password-auth-failed", plain, null, "ClientWrong", 15);
        CuratorFramework both = curator(secure, "alice", "ClientBob");
        List<ClientInfo> bothIds = both.getZookeeperClient().getZooKeeper().whoAmI();
        check("zk/tls+sasl/whoami-both", hasId(bothIds, "x509", "CN=alice,O=zkd") && hasId(bothIds, "sasl", "bob"),
                bothIds.toString());
        check("curator/sasl/others-unaffected", new String(bob.getData().forPath(p)).equals("bob's"), "data differs");
    }

    static void enforce() throws Exception {
        ZooKeeper anon = connected(plain, null, null);
        expectCode("zk/enforce/anonymous-gets-SESSIONCLOSEDREQUIRESASLAUTH", KeeperException.Code.SESSIONCLOSEDREQUIRESASLAUTH,
                () -> anon.exists("/", false));
        CuratorFramework bob = curator(plain, null, "ClientBob");
        check("curator/enforce/sasl-client-served", bob.checkExists().forPath("/") != null, "no stat");
    }

    static void kerberos(String expected) throws Exception {
        CuratorFramework k = curator(plain, null, "Client");
        List<ClientInfo> ids = k.getZookeeperClient().getZooKeeper().whoAmI();
        check("zk/kerberos/whoami-sasl", hasId(ids, "sasl", expected), ids.toString());
        String p = "/sec-kerberos";
        k.create().withACL(acl("sasl", expected)).forPath(p, "k".getBytes());
        check("curator/kerberos/creates-and-reads", new String(k.getData().forPath(p)).equals("k"), "data differs");
        CuratorFramework anon = curator(plain, null, null);
        expectCode("curator/kerberos/anonymous-refused", KeeperException.Code.NOAUTH, () -> anon.getData().forPath(p));
        // A DIGEST-MD5 client against a GSSAPI server: the mechanism is refused.
        refused("zk/kerberos/digest-client-auth-failed", plain, null, "ClientBob", 15);
        check("curator/kerberos/others-unaffected", new String(k.getData().forPath(p)).equals("k"), "data differs");
    }

    public static void main(String[] args) throws Exception {
        plain = args[0];
        secure = args[1];
        pki = args[2];
        String mode = args[3];
        switch (mode) {
            case "main":
                section("tls", SecurityClients::tls);
                section("sasl", SecurityClients::sasl);
                break;
            case "enforce":
                section("enforce", SecurityClients::enforce);
                break;
            case "kerberos":
                section("kerberos", () -> kerberos(args[4]));
                break;
            default:
                say("FAIL mode: unknown mode " + mode);
        }
        for (AutoCloseable c : open) {
            try {
                c.close();
            } catch (Exception e) {
                // closing a refused client may fail
            }
        }
        say("# done");
        System.exit(0);
    }
}
