# syntax=docker/dockerfile:1
#
# zkd in the layout of the official ZooKeeper image (docker.io/library/zookeeper,
# 3.8): the same ZOO_* variables and defaults, ports, volumes and command, so
# compose files and manifests written for that image run zkd unchanged (see
# docs/operations.md, "Packaging").
#
#   docker build -t zkd --build-arg VERSION=$(git describe --always --dirty) \
#       --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run -p 2181:2181 -p 8080:8080 zkd
#
# Directories: /data (dataDir), /datalog (dataLogDir), /conf (a zoo.cfg mounted
# there wins over the ZOO_* variables; without one, zkd writes the file the
# variables describe, as the image's entrypoint does), /logs (kept for
# compatibility: zkd logs to stderr, i.e. `docker logs`). Ports: 2181 clients,
# 2888/3888 quorum and election, 8080 AdminServer; 7000 serves Prometheus metrics
# with ZOO_CFG_EXTRA="metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider".

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG BUILD_DATE=
# A static binary: no cgo, so it runs on an image without a C library.
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.buildDate=${BUILD_DATE}" \
      -o /out/zkd . \
 && mkdir -p /out/fs/data /out/fs/datalog /out/fs/conf /out/fs/logs

# No shell, no package manager: the health check and the entrypoint's work are
# zkd's own (zkd probe; the ZOO_* configuration written to /conf/zoo.cfg).
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
    ZOO_ADMINSERVER_ENABLED=true \
    ZOOCFGDIR=/conf
USER 1000:1000
WORKDIR /data
EXPOSE 2181 2888 3888 8080
VOLUME ["/data", "/datalog", "/logs"]
# srvr is always whitelisted and answers only while the server serves clients;
# ruok would need ZOO_4LW_COMMANDS_WHITELIST. The probe uses the image's default
# client port (ZOO_SERVERS=server.1=localhost:2888:3888;2181).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/zkd", "probe", "-mode", "srvr", "-server", "127.0.0.1:2181", "-timeout", "5s"]
ENTRYPOINT ["/usr/local/bin/zkd"]
# The official image's command; zkd accepts it as zkServer.sh would.
CMD ["zkServer.sh", "start-foreground"]
