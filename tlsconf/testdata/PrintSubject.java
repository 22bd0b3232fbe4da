import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;

/**
 * Prints, for each PEM or DER certificate file named on the command line, the
 * subject as X509AuthenticationProvider names it
 * (getSubjectX500Principal().getName()), as hex of its UTF-8 bytes so that no
 * console encoding gets in the way.
 */
public class PrintSubject {
    public static void main(String[] args) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        for (String path : args) {
            try (FileInputStream in = new FileInputStream(path)) {
                X509Certificate c = (X509Certificate) cf.generateCertificate(in);
                byte[] b = c.getSubjectX500Principal().getName().getBytes(StandardCharsets.UTF_8);
                StringBuilder sb = new StringBuilder();
                for (byte x : b) {
                    sb.append(String.format("%02x", x & 0xff));
                }
                System.out.println(sb);
            }
        }
    }
}
