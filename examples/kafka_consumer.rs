//! Reads TorrentEdge's events from Kafka and prints each one as a JSON line.
//!
//! ```text
//! cargo run --example kafka_consumer -- [BROKERS] [TOPIC] [GROUP_ID]
//! cargo run --example kafka_consumer -- 127.0.0.1:9092 torrent-events analytics
//! ```
//!
//! Defaults: `127.0.0.1:9092`, `torrent-events`, `torrentedge-example`. A new group
//! starts at the oldest event; offsets are committed after each printed event, so a
//! restarted consumer of the same group continues where it stopped. Delivery is at
//! least once: skip an event whose `id` you have already handled. Events of one
//! torrent (same key, the info hash) arrive in `seq` order.

use std::io::Write as _;

use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    if matches!(args.peek().map(String::as_str), Some("-h" | "--help")) {
        eprintln!("usage: kafka_consumer [BROKERS] [TOPIC] [GROUP_ID]");
        return Ok(());
    }
    let brokers = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = args.next().unwrap_or_else(|| "torrent-events".into());
    let group = args.next().unwrap_or_else(|| "torrentedge-example".into());

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[&topic])?;
    eprintln!("reading {topic} from {brokers} as group {group}; Ctrl-C stops");

    let mut out = std::io::stdout().lock();
    let mut consumed = false;
    loop {
        let message = tokio::select! {
            m = consumer.recv() => m,
            _ = tokio::signal::ctrl_c() => break,
        };
        match message {
            Ok(m) => {
                match m.payload_view::<str>() {
                    Some(Ok(json)) => writeln!(out, "{json}")?,
                    _ => eprintln!(
                        "skipping a message that is not UTF-8 JSON at {}/{}",
                        m.partition(),
                        m.offset()
                    ),
                }
                out.flush()?;
                consumer.commit_message(&m, CommitMode::Async)?;
                consumed = true;
            }
            // The client reconnects by itself; say what happened and go on.
            Err(e) => eprintln!("kafka: {e}"),
        }
    }
    // Whatever the async commits had not settled yet.
    if consumed && let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        eprintln!("final commit: {e}");
    }
    Ok(())
}
