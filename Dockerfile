# syntax=docker/dockerfile:1
#
# zkd in the layout of the official ZooKeeper image (docker.io/library/zookeeper):
# the same ZOO_* variables, ports and directories, so compose files and manifests
# written for that image run zkd unchanged (see docs/operations.md).
#
#   docker build -t zkd --build-arg VERSION=$(git describe --always --dirty) .
#   docker run -p 2181:2181 -p 8080:8080 zkd
#
# Directories: /data (dataDir), /datalog (dataLogDir), /conf (a zoo.cfg here wins
# over the ZOO_* variables). Ports: 2181 clients, 2888/3888 quorum and election
# (kept for compatibility; zkd serves standalone), 8080 AdminServer, 7000
# Prometheus (with ZOO_CFG_EXTRA="metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider").

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# A static binary: no cgo, so it runs on an image without a C library.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/zkd . \
 && mkdir -p /out/fs/data /out/fs/datalog /out/fs/conf /out/fs/logs

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/zkd /usr/local/bin/zkd
# Owned by uid/gid 1000, the official image's zookeeper user, so volumes created
# for that image stay writable.
COPY --from=build --chown=1000:1000 /out/fs/ /
ENV ZOO_CONF_DIR=/conf \
    ZOO_DATA_DIR=/data \
    ZOO_DATA_LOG_DIR=/datalog \
    ZOO_LOG_DIR=/logs \
    ZOO_TICK_TIME=2000 \
    ZOO_INIT_LIMIT=5 \
    ZOO_SYNC_LIMIT=2 \
    ZOO_AUTOPURGE_PURGEINTERVAL=0 \
    ZOO_AUTOPURGE_SNAPRETAINCOUNT=3 \
    ZOO_MAX_CLIENT_CNXNS=60 \
    ZOO_STANDALONE_ENABLED=true \
    ZOO_ADMINSERVER_ENABLED=true
USER 1000:1000
WORKDIR /data
EXPOSE 2181 2888 3888 8080 7000
VOLUME ["/data", "/datalog"]
# zkd logs to stderr (docker logs); /logs exists for compatibility only.
ENTRYPOINT ["/usr/local/bin/zkd"]
