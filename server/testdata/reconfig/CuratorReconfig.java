import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

/**
 * Reconfigures an ensemble through Curator's reconfig API, as the super user
 * (super:test), and follows the membership with Curator's ensemble tracker.
 *
 * <p>Usage: CuratorReconfig CONNECT JOINING_LINE LEAVING_ID JOINING_CLIENT LEAVING_CLIENT
 *
 * <p>Prints one line per step: "added CONFIG", "removed CONFIG" (lines joined by
 * '|'), "stale EXCEPTION" for a change from a stale config version, and
 * "tracked yes" once Curator's connection string names the joining server's
 * client address and not the leaving one's. Steps that only say "not yet" are
 * retried for a bounded time.
 */
public final class CuratorReconfig {
  interface Step {
    byte[] run() throws Exception;
  }

  static byte[] retry(Step step) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      try {
        return step.run();
      } catch (KeeperException.NewConfigNoQuorum
          | KeeperException.ReconfigInProgress
          | KeeperException.ConnectionLossException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(200);
      }
    }
  }

  static String text(byte[] data) {
    return new String(data, StandardCharsets.UTF_8).trim().replace("\n", "|");
  }

  public static void main(String[] args) throws Exception {
    String connect = args[0], joining = args[1], leaving = args[2];
    String joiningClient = args[3], leavingClient = args[4];
    CuratorFramework client =
        CuratorFrameworkFactory.builder()
            .connectString(connect)
            .retryPolicy(new RetryNTimes(20, 200))
            .authorization("digest", "super:test".getBytes(StandardCharsets.UTF_8))
            .ensembleTracker(true)
            .build();
    client.start();
    if (!client.blockUntilConnected(60, TimeUnit.SECONDS)) {
      throw new IllegalStateException("no connection to " + connect);
    }
    Stat stat = new Stat();
    byte[] added =
        retry(() -> client.reconfig().joining(joining).storingStatIn(stat).forEnsemble());
    System.out.println("added " + text(added));
    long stale = stat.getMzxid();
    byte[] removed = retry(() -> client.reconfig().leaving(leaving).forEnsemble());
    System.out.println("removed " + text(removed));
    try {
      client.reconfig().leaving(leaving).fromConfig(stale).forEnsemble();
      System.out.println("stale accepted");
    } catch (KeeperException e) {
      System.out.println("stale " + e.getClass().getSimpleName());
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    String tracked = "";
    while (System.nanoTime() < deadline) {
      tracked = client.getZookeeperClient().getCurrentConnectionString();
      if (tracked.contains(joiningClient) && !tracked.contains(leavingClient)) {
        System.out.println("tracked yes");
        break;
      }
      Thread.sleep(100);
    }
    if (!(tracked.contains(joiningClient) && !tracked.contains(leavingClient))) {
      System.out.println("tracked no: " + tracked);
    }
    client.close();
  }
}
