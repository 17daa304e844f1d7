//! Where bytes come from: stdin and files ([`files`]: discovery, rotation order,
//! decompression by magic bytes, metadata from kubelet and docker paths), and live sources
//! ([`docker`]: the Docker Engine API). [`http`] is the small HTTP/1.1 client they share.
//!
//! **Invariant:** only this module spawns processes or opens sockets.

pub mod docker;
pub mod files;
pub mod http;
