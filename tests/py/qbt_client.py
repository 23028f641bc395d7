"""Drives TorrentEdge's qBittorrent API with the real `qbittorrent-api` client.

Run by tests/it/qbt_api.rs, which starts the server and a seeder and passes:
QBT_URL, QBT_USER, QBT_PASS; MAGNET (of content a seeder serves) and MAGNET_HASH;
TORRENT_FILE (a .torrent nobody seeds) and TORRENT_HASH. Every check is an assert;
the last line printed is a JSON summary the Rust side checks against the disk.
"""

import json
import os
import sys
import time

import qbittorrentapi

env = os.environ
MAGNET_HASH = env["MAGNET_HASH"]
FILE_HASH = env["TORRENT_HASH"]


def wait(what, check, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def one(client, h):
    found = client.torrents_info(torrent_hashes=h)
    assert len(found) == 1, found
    return found[0]


c = qbittorrentapi.Client(
    host=env["QBT_URL"],
    username=env["QBT_USER"],
    password=env["QBT_PASS"],
    REQUESTS_ARGS={"timeout": 30},
)
c.auth_log_in()
assert c.app.version.startswith("v"), c.app.version
assert c.app.web_api_version.startswith("2.9"), c.app.web_api_version
prefs = c.app.preferences
for key in ("save_path", "max_ratio_enabled", "max_ratio", "queueing_enabled",
            "max_active_downloads", "dht", "up_limit", "dl_limit"):
    assert key in prefs, key

c.torrents_create_category(name="tv", save_path="tv")
assert "tv" in c.torrents_categories(), c.torrents_categories()

# By magnet, into the category (its folder), with tags: it shows up at once.
assert c.torrents_add(urls=env["MAGNET"], category="tv", tags="a,b") == "Ok."
props = c.torrents_properties(torrent_hash=MAGNET_HASH)
assert props.hash == MAGNET_HASH, props
# By .torrent file, paused, with another category (created on the way) and a tag.
with open(env["TORRENT_FILE"], "rb") as f:
    assert c.torrents_add(torrent_files=f.read(), category="films", tags="x",
                          is_paused=True) == "Ok."
# A second add of the same torrent fails, as in qBittorrent.
assert c.torrents_add(urls=env["MAGNET"]) == "Fails."

tv = c.torrents_info(category="tv")
assert [t.hash for t in tv] == [MAGNET_HASH], tv
assert set(tv[0].tags.split(", ")) == {"a", "b"}, tv[0].tags
films = c.torrents_info(category="films")
assert [t.hash for t in films] == [FILE_HASH], films
assert c.torrents_info(tag="x")[0].hash == FILE_HASH
assert one(c, FILE_HASH).state == "pausedDL", one(c, FILE_HASH).state
files = c.torrents_files(torrent_hash=FILE_HASH)
assert len(files) == 2 and all(f.name.startswith("unseeded/") for f in files), files

md = c.sync_maindata(rid=0)
assert md.full_update is True and MAGNET_HASH in md.torrents and FILE_HASH in md.torrents
assert "tv" in md.categories and "films" in md.categories, md.categories
rid = md.rid

# pause/resume and stop/start (the client picks by the reported API version)
c.torrents_resume(torrent_hashes=FILE_HASH)
wait("resumed", lambda: one(c, FILE_HASH).state not in ("pausedDL",))
c.torrents_pause(torrent_hashes=FILE_HASH)
wait("paused", lambda: one(c, FILE_HASH).state == "pausedDL")
c.torrents_start(torrent_hashes=FILE_HASH)
wait("started", lambda: one(c, FILE_HASH).state != "pausedDL")
c.torrents_stop(torrent_hashes=FILE_HASH)
wait("stopped", lambda: one(c, FILE_HASH).state == "pausedDL")

c.torrents_set_share_limits(ratio_limit=2, seeding_time_limit=60,
                            inactive_seeding_time_limit=-2, torrent_hashes=FILE_HASH)
t = one(c, FILE_HASH)
assert t.ratio_limit == 2 and t.seeding_time_limit == 60, (t.ratio_limit, t.seeding_time_limit)
c.torrents_top_priority(torrent_hashes=FILE_HASH)
assert one(c, FILE_HASH).priority == 1, one(c, FILE_HASH).priority

# Only what changed since `rid`: the limits of the file torrent, not its name.
md2 = c.sync_maindata(rid=rid)
assert not md2.get("full_update"), md2
changed = md2.torrents[FILE_HASH]
assert changed["ratio_limit"] == 2 and "name" not in changed, changed

# The magnet downloads from the seeder, as the client sees it.
done = wait("magnet complete", lambda: (lambda t: t if t.progress == 1.0 and
            t.state in ("uploading", "stalledUP") else None)(one(c, MAGNET_HASH)))
names = [f.name for f in c.torrents_files(torrent_hash=MAGNET_HASH)]
assert all(n.startswith("magnet-content/") for n in names), names

c.torrents_delete(delete_files=True, torrent_hashes=FILE_HASH)
md3 = c.sync_maindata(rid=md2.rid)
assert list(md3.torrents_removed) == [FILE_HASH], (FILE_HASH, md3)
assert c.torrents_info(category="films") == []

c.auth_log_out()
print(json.dumps({"save_path": done.save_path, "content_path": done.content_path,
                  "state": done.state}))
sys.stdout.flush()
