//! Where bytes come from. Today: stdin and files ([`files`]: discovery, rotation order,
//! decompression by magic bytes, metadata from kubelet and docker paths).

pub mod files;
