import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.PrivilegedExceptionAction;
import java.util.HashMap;
import java.util.Map;
import javax.security.auth.Subject;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.NameCallback;
import javax.security.auth.callback.PasswordCallback;
import javax.security.auth.login.LoginContext;
import javax.security.sasl.AuthorizeCallback;
import javax.security.sasl.RealmCallback;
import javax.security.sasl.Sasl;
import javax.security.sasl.SaslClient;
import javax.security.sasl.SaslServer;

/**
 * Runs the client side of a SASL exchange the way ZooKeeper's client creates it
 * (SecurityUtils.createSaslClient), talking to a server over stdin/stdout: one line
 * per token, lower-case hex, "-" for an absent token, "" for an empty one; a token
 * the client sends is followed on its line by " COMPLETE" once the client
 * considers the exchange done. Errors print "ERROR <message>" and exit 3.
 *
 * usage: SaslClientHarness DIGEST-MD5 <user> <password> [authzid|-]
 *        SaslClientHarness GSSAPI <jaas section> <client principal> <service> <host> [mutual]
 *
 * The mode SERVER-GSSAPI runs the other side, the JDK's GSSAPI server as a
 * ZooKeeper quorum member creates it (SecurityUtils.createSaslServer, with
 * SaslQuorumServerCallbackHandler's rule that the authorization id be the
 * authenticated one): it reads the client's tokens, one line each, and prints
 * its own, followed on the line by " COMPLETE <authorization id>" once done.
 *
 *        SaslClientHarness SERVER-GSSAPI <jaas section> <service> <host>
 */
public class SaslClientHarness {
    public static void main(String[] args) throws Exception {
        try {
            if (args[0].equals("SERVER-GSSAPI")) {
                LoginContext lc = new LoginContext(args[1]);
                lc.login();
                Subject.doAs(lc.getSubject(), (PrivilegedExceptionAction<Void>) () -> {
                    SaslServer ss = Sasl.createSaslServer("GSSAPI", args[2], args[3], null, cbs -> {
                        for (Callback cb : cbs) {
                            if (cb instanceof AuthorizeCallback) {
                                AuthorizeCallback ac = (AuthorizeCallback) cb;
                                ac.setAuthorized(ac.getAuthenticationID().equals(ac.getAuthorizationID()));
                                if (ac.isAuthorized()) {
                                    ac.setAuthorizedID(ac.getAuthorizationID());
                                }
                            }
                        }
                    });
                    serve(ss);
                    return null;
                });
            } else if (args[0].equals("GSSAPI")) {
                LoginContext lc = new LoginContext(args[1]);
                lc.login();
                Subject.doAs(lc.getSubject(), (PrivilegedExceptionAction<Void>) () -> {
                    Map<String, String> props = new HashMap<>();
                    if (args.length > 5 && args[5].equals("mutual")) {
                        props.put(Sasl.SERVER_AUTH, "true");
                    }
                    SaslClient sc = Sasl.createSaslClient(new String[] {"GSSAPI"}, args[2], args[3], args[4], props, cbs -> {});
                    converse(sc);
                    return null;
                });
            } else {
                final String user = args[1];
                final char[] password = args[2].toCharArray();
                String authzid = args.length > 3 ? args[3] : user;
                if (authzid.equals("-")) {
                    authzid = null;
                }
                // ZooKeeper: createSaslClient({"DIGEST-MD5"}, username, "zookeeper", "zk-sasl-md5", null, handler)
                SaslClient sc = Sasl.createSaslClient(new String[] {"DIGEST-MD5"}, authzid, "zookeeper", "zk-sasl-md5", null, cbs -> {
                    for (Callback cb : cbs) {
                        if (cb instanceof NameCallback) {
                            ((NameCallback) cb).setName(user);
                        } else if (cb instanceof PasswordCallback) {
                            ((PasswordCallback) cb).setPassword(password);
                        } else if (cb instanceof RealmCallback) {
                            RealmCallback rc = (RealmCallback) cb;
                            rc.setText(rc.getDefaultText());
                        }
                    }
                });
                converse(sc);
            }
        } catch (Exception e) {
            Throwable t = e;
            while (t.getCause() != null) {
                t = t.getCause();
            }
            System.out.println("ERROR " + e + " / " + t);
            System.out.flush();
            System.exit(3);
        }
    }

    static void converse(SaslClient sc) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        byte[] first = sc.hasInitialResponse() ? sc.evaluateChallenge(new byte[0]) : new byte[0];
        send(first, sc);
        String line;
        while (!sc.isComplete() && (line = in.readLine()) != null) {
            byte[] challenge = line.equals("-") ? null : unhex(line);
            byte[] response = sc.evaluateChallenge(challenge == null ? new byte[0] : challenge);
            send(response, sc);
        }
    }

    static void serve(SaslServer ss) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        String line;
        while (!ss.isComplete() && (line = in.readLine()) != null) {
            byte[] response = ss.evaluateResponse(line.equals("-") ? new byte[0] : unhex(line));
            System.out.println((response == null ? "-" : hex(response)) + (ss.isComplete() ? " COMPLETE " + ss.getAuthorizationID() : ""));
            System.out.flush();
        }
    }

    static void send(byte[] token, SaslClient sc) {
        System.out.println((token == null ? "-" : hex(token)) + (sc.isComplete() ? " COMPLETE" : ""));
        System.out.flush();
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xff));
        }
        return sb.toString();
    }

    static byte[] unhex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }
}
