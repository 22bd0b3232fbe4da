#!/usr/bin/python3
"""kazoo 2.8 (Debian python3-kazoo, pure-sasl) against a server secured as Kafka
and HBase deployments secure ZooKeeper, for server/interop_test.go.

usage: /usr/bin/python3 -u security_kazoo.py PLAIN SECURE PKI_DIR MODE

PLAIN and SECURE are host:port of the plain and the TLS client port; PKI_DIR
holds ca.pem and NAME.crt / NAME.key for the clients alice, bob, admin
(the x509 super user), expired and foreign (signed by another CA). The
server's JAAS Server section has user_bob="bobsecret" and user_super="supersecret"
(zookeeper.superUser=super). MODE is "main", "unified" (main's checks on a
port that takes TLS and plain clients: PLAIN and SECURE are the same) or
"enforce" (sasl required).

Prints "ok NAME" or "FAIL NAME: DETAIL" per check, "# " context lines, and
"# done" at the end. Every wait is bounded.
"""
import os
import sys
import traceback

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NodeExistsError
from kazoo.security import make_acl

PLAIN, SECURE, PKI, MODE = sys.argv[1:5]
BASE = "/sec-kazoo"
CLIENTS = []


def say(line):
    print(line, flush=True)


def check(name, ok, detail="condition is false"):
    say(("ok %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    return ok


def section(name, fn):
    say("# section " + name)
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - a section reports, the run goes on
        for line in traceback.format_exc().rstrip("\n").split("\n")[-20:]:
            say("# " + line)
        check(name + "/no-exception", False, repr(e))


def tls(name=None, **kw):
    kw["use_ssl"] = True
    kw["ca"] = os.path.join(PKI, "ca.pem")
    kw["verify_certs"] = True
    if name:
        kw["certfile"] = os.path.join(PKI, name + ".crt")
        kw["keyfile"] = os.path.join(PKI, name + ".key")
    return kw


def digest(user, password, mechanism="DIGEST-MD5"):
    return {"sasl_options": {"mechanism": mechanism, "username": user, "password": password}}


def client(hosts, timeout=15, **kw):
    c = KazooClient(hosts=hosts, timeout=timeout, connection_retry={"max_tries": 3, "delay": 0.1}, **kw)
    c.start(timeout=timeout)
    CLIENTS.append(c)
    return c


def refused(name, hosts, **kw):
    """The client cannot get a usable session."""
    c = KazooClient(hosts=hosts, timeout=5, connection_retry={"max_tries": 1, "delay": 0.1}, **kw)
    try:
        c.start(timeout=5)
        # kazoo reports CONNECTED before its SASL exchange: a failed exchange
        # shows on the first request.
        c.exists_async("/").get(timeout=5)
    except Exception as e:  # noqa: BLE001
        check(name, True)
        say("# %s: %r" % (name, e))
        return
    finally:
        try:
            c.stop()
            c.close()
        except Exception:  # noqa: BLE001
            pass
    check(name, False, "a session was established")


def expect_noauth(name, fn):
    try:
        fn()
    except NoAuthError:
        check(name, True)
        return
    except Exception as e:  # noqa: BLE001
        check(name, False, "want NoAuthError, got %r" % e)
        return
    check(name, False, "want NoAuthError, got no error")


def ensure_base(c):
    try:
        c.create(BASE, b"")
    except NodeExistsError:
        pass


def tls_sections():
    alice = client(SECURE, **tls("alice"))
    ensure_base(alice)
    p = BASE + "/alice"
    alice.create(p, b"alice's", acl=[make_acl("x509", "CN=alice,O=zkd", all=True)])
    check("tls/alice-creates-and-reads", alice.get(p)[0] == b"alice's")
    bob = client(SECURE, **tls("bob"))
    expect_noauth("tls/bob-refused-by-x509-acl", lambda: bob.get(p))
    admin = client(SECURE, **tls("admin"))
    check("tls/x509-super-user-reads", admin.get(p)[0] == b"alice's")
    anon = client(SECURE, **tls())
    expect_noauth("tls/no-certificate-refused-by-x509-acl", lambda: anon.get(p))
    plain = client(PLAIN)
    expect_noauth("plain/refused-by-x509-acl", lambda: plain.get(p))
    refused("tls/expired-certificate-refused", SECURE, **tls("expired"))
    refused("tls/foreign-certificate-refused", SECURE, **tls("foreign"))
    if MODE == "unified":
        check("unified/plaintext-client-served", client(SECURE).exists("/") is not None)
    else:
        refused("tls/plaintext-client-on-tls-port-refused", SECURE)
    check("tls/others-unaffected", alice.get(p)[0] == b"alice's")


def sasl_sections():
    bob = client(PLAIN, **digest("bob", "bobsecret"))
    ensure_base(bob)
    p = BASE + "/bob"
    bob.create(p, b"bob's", acl=[make_acl("sasl", "bob", all=True)])
    check("sasl/bob-creates-and-reads", bob.get(p)[0] == b"bob's")
    anon = client(PLAIN)
    expect_noauth("sasl/anonymous-refused-by-sasl-acl", lambda: anon.get(p))
    sup = client(PLAIN, **digest("super", "supersecret"))
    check("sasl/super-user-reads", sup.get(p)[0] == b"bob's")
    refused("sasl/wrong-password-refused", PLAIN, **digest("bob", "wrong"))
    refused("sasl/unknown-user-refused", PLAIN, **digest("mallory", "x"))
    # A mechanism the server does not speak authenticates nobody: the server
    # answers PLAIN's token with its DIGEST-MD5 challenge, which pure-sasl's PLAIN
    # client takes as the end, so kazoo goes on without an identity.
    plain_mech = client(PLAIN, **digest("bob", "bobsecret", mechanism="PLAIN"))
    expect_noauth("sasl/plain-mechanism-gets-no-identity", lambda: plain_mech.get(p))
    # SASL over TLS: both ids.
    both = client(SECURE, **dict(tls("alice"), **digest("bob", "bobsecret")))
    check("tls+sasl/reads-sasl-node", both.get(p)[0] == b"bob's")
    check("tls+sasl/reads-x509-node", both.get(BASE + "/alice")[0] == b"alice's")
    check("sasl/others-unaffected", bob.get(p)[0] == b"bob's")


def enforce_sections():
    bob = client(PLAIN, **digest("bob", "bobsecret"))
    check("enforce/sasl-client-served", bob.exists("/") is not None)
    anon = KazooClient(hosts=PLAIN, timeout=5, connection_retry={"max_tries": 1, "delay": 0.1})
    try:
        anon.start(timeout=5)
        try:
            anon.get_async("/").get(timeout=5)
            check("enforce/anonymous-refused", False, "served without SASL")
        except Exception as e:  # noqa: BLE001
            check("enforce/anonymous-refused", True)
            say("# anonymous: %r" % e)
    except Exception as e:  # noqa: BLE001
        check("enforce/anonymous-refused", True)
        say("# anonymous start: %r" % e)
    finally:
        try:
            anon.stop()
            anon.close()
        except Exception:  # noqa: BLE001
            pass
    check("enforce/others-unaffected", bob.exists("/") is not None)


if MODE in ("main", "unified"):
    section("tls", tls_sections)
    section("sasl", sasl_sections)
elif MODE == "enforce":
    section("enforce", enforce_sections)
for c in CLIENTS:
    try:
        c.stop()
        c.close()
    except Exception:  # noqa: BLE001
        pass
say("# done")
