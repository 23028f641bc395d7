//! Test swarms on loopback: random content, torrents made from it, and a separate
//! librqbit session seeding it on 127.0.0.1 (no DHT, no local discovery).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use librqbit::{
    AddTorrent, AddTorrentOptions, CreateTorrentOptions, ListenerMode, ListenerOptions, Session,
    SessionOptions,
};
use rand::RngCore;
use tempfile::TempDir;

/// Random multi-file content in `root/name/`, with sizes that are not multiples of any
/// power-of-two piece length.
pub struct Content {
    pub dir: TempDir,
    pub name: String,
}

impl Content {
    /// `sizes` in bytes, one file each (nested one level for the second and later files).
    pub fn random(name: &str, sizes: &[usize]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join(name);
        let mut rng = rand::rng();
        for (i, size) in sizes.iter().enumerate() {
            let path = if i == 0 {
                root.join(format!("file-{i}.bin"))
            } else {
                root.join("sub").join(format!("file-{i}.bin"))
            };
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            let mut buf = vec![0u8; *size];
            rng.fill_bytes(&mut buf);
            std::fs::write(&path, buf).expect("write content");
        }
        Self {
            dir,
            name: name.to_owned(),
        }
    }

    /// The usual fixture: three files, about 21 MiB, odd sizes.
    pub fn standard(name: &str) -> Self {
        Self::random(
            name,
            &[
                7 * 1024 * 1024 + 12_345,
                9 * 1024 * 1024 + 777,
                5 * 1024 * 1024 + 4_321,
            ],
        )
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }

    /// Makes a `.torrent` of the content; returns its bytes and hex info hash.
    pub async fn make_torrent(
        &self,
        piece_length: u32,
        trackers: Vec<String>,
    ) -> (Vec<u8>, String) {
        let spawner = librqbit::spawn_utils::BlockingSpawner::new(2);
        let root = self.root();
        let res = librqbit::create_torrent(
            &root,
            CreateTorrentOptions {
                name: Some(&self.name),
                trackers,
                piece_length: Some(piece_length),
            },
            &spawner,
        )
        .await
        .expect("create torrent");
        let bytes = res.as_bytes().expect("torrent bytes").to_vec();
        (bytes, res.info_hash().as_string())
    }
}

/// A librqbit session seeding one torrent on 127.0.0.1.
pub struct Seeder {
    pub session: Arc<Session>,
    pub addr: SocketAddr,
}

impl Seeder {
    /// Seeds `torrent` whose content lies in `content_parent` (the folder holding the
    /// torrent's top-level name). Returns once the data is verified and being served.
    pub async fn start(torrent: &[u8], content_parent: &Path) -> Self {
        let session = loopback_session(content_parent).await;
        let handle = session
            .add_torrent(
                AddTorrent::from_bytes(torrent.to_vec()),
                Some(AddTorrentOptions {
                    overwrite: true,
                    ..Default::default()
                }),
            )
            .await
            .expect("seeder add")
            .into_handle()
            .expect("handle");
        handle
            .wait_until_completed()
            .await
            .expect("seeder verified its data");
        let addr = session.listen_addr().expect("seeder listens");
        Self { session, addr }
    }
}

impl Seeder {
    /// A plain client that downloads `torrent` into `dir` from `peer` and returns once
    /// it has everything (it keeps running, and seeding, until dropped).
    pub async fn leech(torrent: &[u8], dir: &Path, peer: SocketAddr) -> Self {
        let session = loopback_session(dir).await;
        let handle = session
            .add_torrent(
                AddTorrent::from_bytes(torrent.to_vec()),
                Some(AddTorrentOptions {
                    initial_peers: Some(vec![peer]),
                    ..Default::default()
                }),
            )
            .await
            .expect("leecher add")
            .into_handle()
            .expect("handle");
        tokio::time::timeout(
            std::time::Duration::from_secs(120),
            handle.wait_until_completed(),
        )
        .await
        .expect("leecher finished in time")
        .expect("leecher completed");
        let addr = session.listen_addr().expect("leecher listens");
        Self { session, addr }
    }
}

impl Drop for Seeder {
    fn drop(&mut self) {
        self.session.cancellation_token().cancel();
    }
}

async fn loopback_session(dir: &Path) -> Arc<Session> {
    Session::new_with_opts(
        dir.to_path_buf(),
        SessionOptions {
            dht: None,
            disable_local_service_discovery: true,
            disable_trackers: true,
            listen: Some(ListenerOptions {
                mode: ListenerMode::TcpOnly,
                listen_addr: "127.0.0.1:0".parse().expect("addr"),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("loopback session")
}

/// A magnet link for `hash` that names `peer` with BEP 9's `x.pe`.
pub fn magnet_with_peer(hash: &str, peer: SocketAddr) -> String {
    format!("magnet:?xt=urn:btih:{hash}&x.pe={peer}")
}
