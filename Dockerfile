# syntax=docker/dockerfile:1
# Build: docker build -t scangate .
# Run:   docker run -p 8080:8080 -v $PWD/scangate.yaml:/etc/scangate/scangate.yaml \
#          -e SCANGATE_SESSION_SECRET=... scangate

FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependency layer: built from the manifests alone, cached until Cargo.toml/Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && for b in hot_path redis_hot_path; do echo 'fn main() {}' > benches/$b.rs; done \
 && cargo build --release --locked \
 && rm -rf src benches
COPY src src
COPY benches benches
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin scangate

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/scangate scangate \
 && mkdir -p /etc/scangate /var/lib/scangate && chown scangate /var/lib/scangate
COPY --from=build /src/target/release/scangate /usr/local/bin/scangate
COPY conf/scangate.example.yaml /etc/scangate/scangate.example.yaml
USER scangate
# Relative paths in the config (store.path) live here.
WORKDIR /var/lib/scangate
EXPOSE 8080 9100
ENTRYPOINT ["scangate"]
CMD ["run", "--config", "/etc/scangate/scangate.yaml"]
