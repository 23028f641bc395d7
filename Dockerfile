# TorrentEdge server image: a release build on Debian, run as an unprivileged user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY .env.example ./
RUN cargo build --release --locked --bin torrentedge

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data torrentedge \
    && mkdir -p /data /downloads \
    && chown torrentedge /data /downloads
COPY --from=build /src/target/release/torrentedge /usr/local/bin/torrentedge
USER torrentedge
ENV DATA_DIR=/data DOWNLOAD_PATH=/downloads PORT=3000 PEER_PORT=6881
VOLUME ["/data", "/downloads"]
EXPOSE 3000 6881
ENTRYPOINT ["/usr/local/bin/torrentedge"]
