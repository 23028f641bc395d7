//! Malformed requests and hostile torrents get clear JSON errors and change nothing.
