//! Action URLs and (later) the web UI over HTTP.
