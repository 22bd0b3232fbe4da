package server

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"zkd/session"
	"zkd/zoocfg"
)

// defaultAuditFile is the file ZooKeeper's shipped logging configuration writes
// the audit log to, in zookeeper.log.dir (zookeeper.auditlog.file).
const defaultAuditFile = "zookeeper_audit.log"

// openAudit opens the audit log of audit.enable: where ZooKeeper's shipped
// logging configuration puts it, zookeeper.auditlog.file (zookeeper_audit.log)
// in zookeeper.log.dir, when that directory is given; otherwise on stderr, beside
// the server's own log. The closer is nil for stderr.
func openAudit(cfg *zoocfg.Config) (*session.AuditLog, io.Closer, error) {
	dir := cfg.SystemProperties["zookeeper.log.dir"]
	if dir == "" {
		return session.NewAuditLog(os.Stderr), nil, nil
	}
	file := cfg.SystemProperties["zookeeper.auditlog.file"]
	if file == "" {
		file = defaultAuditFile
	}
	f, err := os.OpenFile(filepath.Join(dir, file), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("audit log (audit.enable): %w", err)
	}
	return session.NewAuditLog(f), f, nil
}
