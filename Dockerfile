# syntax=docker/dockerfile:1.7
# The gateway image, built from the whole source tree (filtered by .dockerignore): nothing here
# lists the crate's targets, so the image cannot drift from Cargo.toml. BuildKit cache mounts
# keep the registry and target/ between builds instead of a hand-made dependency layer.
#
#   docker build -t scangate .                      # production: no simulator, no demo
#   docker build --target demo -t scangate:demo .   # `scangate demo`, to try it out
#   docker run -p 8080:8080 -p 127.0.0.1:9100:9100 \
#     -v $PWD/scangate.yaml:/etc/scangate/scangate.yaml:ro \
#     -e SCANGATE_SESSION_SECRET=... scangate
#
# `scripts/docker-build-check` replays the build stages without Docker (CI has none).

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
# pingora builds zlib-ng with cmake.
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Production: without the `demo` feature (no simulator, no axum).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features --bin scangate \
 && mkdir -p out && cp target/release/scangate out/scangate

FROM build AS build-demo
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin scangate \
 && mkdir -p out && cp target/release/scangate out/scangate

FROM ${RUNTIME_IMAGE} AS runtime-base
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="scangate" \
      org.opencontainers.image.description="Reverse-proxy authentication gateway with WeChat QR login, on pingora" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.documentation="https://github.com/scangate/scangate#readme"
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/scangate scangate \
 && mkdir -p /etc/scangate /var/lib/scangate && chown scangate /var/lib/scangate
COPY conf/scangate.example.yaml /etc/scangate/scangate.example.yaml
USER 10001
# Relative paths in the config (store.path) live here.
WORKDIR /var/lib/scangate
EXPOSE 8080 9100
# The admin listener's liveness; `healthcheck --url` for another admin_listen.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["scangate", "healthcheck"]
ENTRYPOINT ["scangate"]

# Try it out: the demo gateway with its simulated WeChat, on all interfaces of the container.
FROM runtime-base AS demo
COPY --from=build-demo /src/out/scangate /usr/local/bin/scangate
CMD ["demo", "--data-dir", "/var/lib/scangate/demo", "--listen", "0.0.0.0:8080", "--admin-listen", "0.0.0.0:9100"]

# The default target: the production gateway.
FROM runtime-base AS runtime
COPY --from=build /src/out/scangate /usr/local/bin/scangate
CMD ["run", "--config", "/etc/scangate/scangate.yaml"]
