//! Prometheus metrics: the `metrics` facade, recorded by `metrics-exporter-prometheus`
//! and rendered by the `/metrics` route (see `api::metrics`).
//!
//! Counters and histograms are recorded where things happen (HTTP requests, store
//! operations, events, Socket.IO deliveries, Kafka relay rounds, payload bytes, cache
//! lookups and fallbacks).
//! Gauges that describe the current state (torrents by state, rates, peers, the queue,
//! the outbox backlog, sockets) are set when a scrape asks, from the engine's own view;
//! the cache backend in use is set when it changes.
//!
//! The recorder is process-wide, installed once: an embedding process (the integration
//! tests run many servers in one) shares one set of metrics.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: 0.5 ms to 10 s.
const SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use.
pub fn handle() -> PrometheusHandle {
    HANDLE.get_or_init(install).clone()
}

fn install() -> PrometheusHandle {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
        .expect("the buckets are not empty");
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        // Someone else installed a recorder first: ours renders nothing they record.
        tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
    }
    describe();
    handle
}

fn describe() {
    describe_counter!(
        "torrentedge_http_requests_total",
        "HTTP requests by route template, method and status"
    );
    describe_histogram!(
        "torrentedge_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route template and method"
    );
    describe_histogram!(
        "torrentedge_store_operation_duration_seconds",
        Unit::Seconds,
        "Store operation latency by operation"
    );
    describe_counter!(
        "torrentedge_store_errors_total",
        "Store operations that failed, by operation"
    );
    describe_counter!("torrentedge_events_total", "Events committed, by type");
    describe_counter!(
        "torrentedge_metadata_lookups_total",
        "Magnet metadata fetched from peers (not from a known .torrent)"
    );
    describe_counter!(
        "torrentedge_metadata_answers_total",
        "Metadata API answers, by source (cache, disk, lookup)"
    );
    describe_counter!(
        "torrentedge_payload_bytes_total",
        Unit::Bytes,
        "Torrent payload bytes transferred, by direction (down, up)"
    );
    describe_counter!(
        "torrentedge_socketio_deliveries_total",
        "Events delivered to Socket.IO clients"
    );
    describe_gauge!(
        "torrentedge_socketio_sockets",
        "Connected Socket.IO sockets"
    );
    describe_gauge!(
        "torrentedge_piece_buffer_bytes",
        Unit::Bytes,
        "Memory holding pieces being downloaded until they are verified (PIECE_BUFFER_MIB bounds it)"
    );
    describe_gauge!(
        "torrentedge_piece_buffer_peak_bytes",
        Unit::Bytes,
        "The most memory piece buffers ever held since the start"
    );
    describe_counter!(
        "torrentedge_kafka_delivered_total",
        "Events the Kafka broker acknowledged"
    );
    describe_counter!(
        "torrentedge_kafka_relay_errors_total",
        "Kafka relay rounds that failed"
    );
    describe_gauge!("torrentedge_torrents", "Torrents by state");
    describe_gauge!(
        "torrentedge_transfer_rate_bytes",
        Unit::Bytes,
        "Transfer rate over all torrents, by direction (down, up)"
    );
    describe_gauge!("torrentedge_peers", "Connected peers over all torrents");
    describe_gauge!(
        "torrentedge_queue_torrents",
        "Torrents holding a download slot (active) or waiting for one (queued)"
    );
    describe_gauge!(
        "torrentedge_outbox_events",
        "Events waiting in the outbox for the Kafka relay"
    );
    describe_gauge!(
        "torrentedge_kafka_up",
        "1 when the Kafka sink reaches its broker, 0 otherwise (absent without Kafka)"
    );
    describe_counter!(
        "torrentedge_cache_requests_total",
        "Cache lookups by cache (revocation, metadata) and result (hit, miss)"
    );
    describe_gauge!(
        "torrentedge_cache_backend",
        "1 for the cache backend in use (redis or memory), 0 for the other"
    );
    describe_counter!(
        "torrentedge_cache_fallbacks_total",
        "Times Redis stopped answering and the in-process cache took over"
    );
    describe_counter!(
        "torrentedge_tracker_announces_total",
        "Tracker announces by protocol (http, udp) and result (ok, refused, malformed)"
    );
    describe_counter!(
        "torrentedge_tracker_scrapes_total",
        "Tracker scrapes by protocol (http, udp) and result (ok, refused, malformed)"
    );
    describe_counter!(
        "torrentedge_tracker_udp_packets_total",
        "UDP tracker packets other than answered announces and scrapes, by kind (connect, malformed, bad_connection_id)"
    );
    describe_gauge!(
        "torrentedge_tracker_peers",
        "Peers the tracker knows, by kind (seeder, leecher)"
    );
    describe_gauge!("torrentedge_tracker_swarms", "Swarms the tracker keeps");
}
