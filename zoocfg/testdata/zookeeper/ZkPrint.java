// ZkPrint prints what Apache ZooKeeper's own classes make of server.N values and
// membership texts, for zoocfg's golden files. Run by TestGoldenFilesMatchZooKeeper
// against Debian's /usr/share/java/zookeeper.jar (3.8.0):
//
//   java -Dzookeeper.multiAddress.enabled=true -cp zookeeper.jar:. ZkPrint servers servers.txt
//   java -cp zookeeper.jar:. ZkPrint memberships memberships.txt
//
// servers: one line per case, "<id>\t<value>\t<QuorumServer.toString() as server.N=...>"
// or "!error" when the constructor throws.
// memberships: cases separated by "----" lines; for each, QuorumMaj.toString() (the
// /zookeeper/config text) and the file QuorumPeerConfig.writeDynamicConfig writes,
// each followed by a "<<<END" line.
import java.io.File;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Properties;
import org.apache.zookeeper.server.quorum.QuorumPeer.QuorumServer;
import org.apache.zookeeper.server.quorum.QuorumPeerConfig;
import org.apache.zookeeper.server.quorum.flexible.QuorumMaj;

public class ZkPrint {
    public static void main(String[] args) throws Exception {
        StringBuilder out = new StringBuilder();
        if (args[0].equals("servers")) {
            for (String line : Files.readAllLines(Paths.get(args[1]))) {
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                String[] f = line.split("\t", 2);
                String printed;
                try {
                    printed = "server." + f[0] + "=" + new QuorumServer(Long.parseLong(f[0]), f[1]).toString();
                } catch (Exception e) {
                    printed = "!error";
                }
                out.append(f[0]).append('\t').append(f[1]).append('\t').append(printed).append('\n');
            }
        } else {
            String text = new String(Files.readAllBytes(Paths.get(args[1])));
            int n = 0;
            for (String c : text.split("(?m)^----\n")) {
                if (c.trim().isEmpty()) {
                    continue;
                }
                Properties p = new Properties();
                p.load(new StringReader(c));
                QuorumMaj qm = new QuorumMaj(p);
                File tmp = File.createTempFile("zkprint", ".dynamic");
                QuorumPeerConfig.writeDynamicConfig(tmp.getPath(), qm, false);
                String dynamic = new String(Files.readAllBytes(tmp.toPath()));
                tmp.delete();
                out.append("==== ").append(n++).append('\n');
                out.append(qm.toString()).append("\n<<<END\n");
                out.append(dynamic).append("\n<<<END\n");
            }
        }
        System.out.print(out);
    }
}
