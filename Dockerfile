# syntax=docker/dockerfile:1.7
#
# One image for every service; its arguments pick the one to run:
#   docker run IMAGE serve rule-service      (or alert-producer)
#   docker run IMAGE run evaluator           (rule-updater, aggregator, sender)
#   docker run IMAGE job redrive             (snapshot-rebuild), migrate, topics create
# Configuration comes from the environment (`docker run IMAGE --help` lists it).

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

# Dependencies are built in their own layer (cargo-chef), so a change to our code
# rebuilds only our crates.
FROM rust:${RUST_VERSION}-slim-${DEBIAN} AS chef
# librdkafka and jemalloc are built from source (C and C++, with make); zlib and OpenSSL
# (librdkafka's TLS and SASL) are linked from the system.
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ make pkg-config python3 zlib1g-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /src

FROM chef AS plan
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=plan /src/recipe.json recipe.json
RUN cargo chef cook --profile dist --locked --bin alerting --recipe-path recipe.json
COPY . .
RUN cargo build --profile dist --locked --bin alerting \
    && cp target/dist/alerting /usr/local/bin/alerting

# The binary links glibc, libgcc, libm and zlib, all in debian-slim, and OpenSSL 3
# (libssl3); it needs CA certificates to reach HTTPS webhooks, Slack, SMTPS, MSK and
# ElastiCache.
FROM debian:${DEBIAN}-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin alerting
# Amazon RDS's CA bundle (every region's roots), which the system roots lack: point
# `sslrootcert` (or PGSSLROOTCERT) here with sslmode=verify-full.
ADD --chmod=644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
ENV PGSSLROOTCERT=/etc/ssl/certs/rds-global-bundle.pem
COPY --from=build /usr/local/bin/alerting /usr/local/bin/alerting
USER 10001:10001
# Listen on every interface inside the container (the defaults are loopback only).
ENV RULE_SERVICE_ADDR=0.0.0.0:8080 \
    ALERT_PRODUCER_ADDR=0.0.0.0:8081 \
    METRICS_ADDR=0.0.0.0:9090 \
    LOG_FORMAT=json \
    DATA_DIR=/tmp/alerting
# 8080 rule-service, 8081 alert-producer, 9090 a consumer's /health and /metrics.
EXPOSE 8080 8081 9090
# Asks the rule-service's /health by default: set HEALTH_URL to
# http://127.0.0.1:8081/health for the alert-producer, :9090 for the consumers.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["alerting", "health"]
ENTRYPOINT ["alerting"]
CMD ["--help"]
