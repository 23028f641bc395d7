//! Authentication and authorization through the real HTTP API.
