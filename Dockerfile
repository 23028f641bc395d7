# TorrentEdge server image: a release build on Debian, run as an unprivileged user.
# The dashboard is built first and embedded in the binary.
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
RUN npm run build

FROM rust:1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY .env.example ./
COPY --from=web /web/dist ./web/dist
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
