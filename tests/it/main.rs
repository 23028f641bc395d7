//! The integration suite: one binary, driving the real server against real peers.

mod support;

mod api_auth;
mod bad_input;
mod catalog;
mod catalog_download;

mod binary;
mod crash;
mod dashboard;
mod deploy;
mod download;
mod events;
mod fast_resume;
mod graphql;
mod integrity;
mod kafka;
mod library;
mod lifecycle;
mod list_api;
mod login_load;
mod metadata;
mod metrics;
mod mongo_outage;
mod mongo_server;
mod nginx;
mod openapi;
mod proxy;
mod qbt_api;
mod queue;
mod redis_cache;
mod redis_server;
mod restart;
mod socketio;
mod store_mongo;
mod streaming;
mod tools_selftest;
mod torrent_options;
mod tracker_clients;
mod tracker_protocol;
mod trackers;
mod two_factor;
mod webdav;
