# gumgate container image.
#
# Four stages, the usual cargo-chef layout:
#   chef     - pinned Rust toolchain + pinned cargo-chef
#   planner  - computes recipe.json (the dependency graph only)
#   builder  - builds dependencies from recipe.json (a cached layer that only
#              changes when a Cargo.toml or Cargo.lock changes), then builds gumgate
#   runtime  - distroless image holding only the binary
#
# Build:  docker build -t gumgate:dev .
# Run:    docker run --rm -p 8080:8080 -p 9090:9090 gumgate:dev serve --sandbox
#
# Base images are pinned by exact tag. To make the build fully reproducible,
# add the digest as well (FROM image:tag@sha256:...) and let Renovate or
# Dependabot keep tag and digest current.

# ---------------------------------------------------------------------------
# Toolchain: Rust 1.95.0 exactly (the project's toolchain; edition 2024).
# bookworm (Debian 12, glibc 2.36) on purpose: the runtime image is
# distroless cc-debian12, so builder and runtime have the same glibc and the
# binary never needs symbols newer than the runtime provides.
# The slim image already has gcc and libc6-dev, which ring's C/asm parts need.
# rustls + ring means no OpenSSL headers are needed.
FROM rust:1.95.0-slim-bookworm AS chef

# cargo-chef pinned; --locked uses cargo-chef's own Cargo.lock so its
# dependency set cannot drift between builds.
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install --locked cargo-chef --version "${CARGO_CHEF_VERSION}"

WORKDIR /app

# ---------------------------------------------------------------------------
FROM chef AS planner
# The whole workspace: the gateway at the root and its member crates under
# crates/ (gumroad-wire, gumgate-sandbox); the recipe covers every member.
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---------------------------------------------------------------------------
FROM chef AS builder

# Dependencies first: this layer is reused as long as recipe.json (i.e. the
# manifests and lockfile) is unchanged, so editing src/ does not rebuild
# axum/tokio/reqwest/... from scratch.
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin gumgate

# Then the application itself. --locked: fail instead of silently updating
# Cargo.lock. config/default.toml is compiled into the binary, so nothing
# but the binary has to reach the runtime image.
COPY . .
RUN cargo build --release --locked --bin gumgate \
 && install -D -m 0755 target/release/gumgate /out/usr/local/bin/gumgate \
 && install -d -m 0750 /out/var/lib/gumgate/data

# ---------------------------------------------------------------------------
# Runtime: gcr.io/distroless/cc-debian12, :nonroot variant.
# Why distroless rather than debian:bookworm-slim + ca-certificates + useradd:
#   - it ships exactly what a glibc Rust binary needs (glibc, libgcc_s,
#     CA certificates for rustls' https calls to api.maton.ai, tzdata,
#     /etc/passwd with the "nonroot" user, uid/gid 65532);
#   - no shell, no package manager, no curl: a much smaller attack surface
#     and far fewer CVE-scanner findings. The HEALTHCHECK therefore calls the
#     binary itself (`gumgate healthcheck`) instead of curl/wget.
# The trade-off: no `docker exec ... sh` for debugging; use
# `kubectl debug --image=busybox --target=gumgate` (ephemeral container) instead.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
# org.opencontainers.image.source is left out until the repository URL is
# public; add it (and pass --build-arg REVISION=$(git rev-parse HEAD)) in CI.
LABEL org.opencontainers.image.title="gumgate" \
      org.opencontainers.image.description="A license gateway for software sold on Gumroad, in front of Maton's managed-OAuth proxy" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=builder /out/usr/local/bin/gumgate /usr/local/bin/gumgate

# State directory. The SQLite files will live in ./data relative to the
# working directory, i.e. /var/lib/gumgate/data. It is created in the builder
# (distroless has no shell for RUN mkdir) and handed to uid 65532 here, so a
# fresh Docker named volume mounted on it inherits that ownership. In
# Kubernetes, mount a volume there (the root filesystem is read-only) and set
# fsGroup: 65532.
COPY --from=builder --chown=65532:65532 /out/var/lib/gumgate /var/lib/gumgate
WORKDIR /var/lib/gumgate

# Numeric uid:gid (distroless "nonroot") rather than a name, so Kubernetes'
# runAsNonRoot check can verify it without reading /etc/passwd.
USER 65532:65532

# Structured logs by default; override with GUMGATE__LOG__FORMAT=... if needed. In a container
# the listeners bind every interface (the network namespace is the boundary): set here, so
# `serve --sandbox`, which otherwise keeps a demo on loopback, is reachable through -p too.
ENV GUMGATE__LOG__FORMAT=json \
    GUMGATE__SERVER__LISTEN=0.0.0.0:8080 \
    GUMGATE__SERVER__METRICS_LISTEN=0.0.0.0:9090

# 8080: API (/v2/..., /livez, /readyz). 9090: Prometheus /metrics (+ probes).
EXPOSE 8080 9090

# Exec form: there is no shell in this image. `gumgate healthcheck` reads the
# same configuration as `serve` and exits 0 when /livez on the ops listener
# (server.metrics_listen, 0.0.0.0 probed as 127.0.0.1) answers 200. Kubernetes ignores
# HEALTHCHECK and uses the probes in deploy/k8s/deployment.yaml instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/gumgate", "healthcheck"]

# gumgate runs as PID 1 and handles SIGTERM itself (graceful shutdown); it
# spawns no child processes, so no init (tini) is needed to reap zombies.
ENTRYPOINT ["/usr/local/bin/gumgate"]
CMD ["serve"]
