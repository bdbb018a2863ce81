//! `GET /metrics` ([`crate::metrics`]), two ways:
//!
//! - on the web side, for a principal who may read it ([`Roles::reads_metrics`]: the admin or
//!   the metrics role; a Prometheus token is `token add --role metrics`), with the web side's
//!   authentication ([`login::authenticate`]);
//! - without authentication on a listener of its own (`--metrics ADDR:PORT`), which the
//!   command line takes only on a loopback address ([`loopback_only`]). It answers `/metrics`
//!   and nothing else, with the web side's Host check (a page elsewhere cannot read it through
//!   a name that resolves to 127.0.0.1), and needs no catalog to answer: while the catalog is
//!   away it says so (`callrec_server_catalog_up 0`).
//!
//! [`Roles::reads_metrics`]: crate::auth::role::Roles::reads_metrics

use super::body::Body;
use super::{full, host, login, set, Link};
use crate::catalog::db::{snapshot, Conn, Dialect};
use crate::catalog::{Catalog, CatalogError};
use crate::metrics::{render, Figures, CONTENT_TYPE, METRICS};
use crate::space::Space;
use callrec_platform::download::pool::Pool;
use hyper::body::Incoming;
use hyper::header;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// What a scrape reads.
#[derive(Clone)]
pub struct Scraped {
    pub catalog: Catalog,
    pub space: Space,
    pub storage: PathBuf,
}

/// Connections the metrics listener serves at once.
const PLACES: usize = 4;

/// `--metrics ADDR`: only a loopback address (no authentication there).
pub fn loopback_only(addr: SocketAddr) -> Result<(), String> {
    if addr.ip().to_canonical().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "--metrics {addr} is not a loopback address: that listener has no authentication. \
             Bind it to 127.0.0.1 or [::1], or scrape the web side's /metrics with a token \
             (`callrec-server token add … --role metrics`)"
        ))
    }
}

/// The figures of a scrape (blocks on the catalog and the storage: a reader thread's work).
pub fn figures(s: &Scraped) -> Figures {
    let free_bytes = callrec_platform::store::fs::free_bytes(&s.storage).ok();
    let read = s.catalog.read(|c| snapshot(c, catalog_figures));
    let (catalog_up, (recordings, catalog_bytes, audit_entries)) = match read {
        Ok(x) => (true, x),
        Err(e) => {
            crate::limited!(crate::logs::Kind::Http, "metrics: catalog: {e}");
            (false, (None, None, None))
        }
    };
    Figures {
        free_bytes,
        reserve_bytes: s.space.reserve(),
        catalog_up,
        recordings,
        catalog_bytes,
        audit_entries,
    }
}

type Counts = (Option<u64>, Option<u64>, Option<u64>);

/// The recordings' count, the catalog's bytes and the audit trail's length: three one-row
/// reads (the count and the last entry's number are kept in rows of their own).
fn catalog_figures(c: &mut dyn Conn) -> Result<Counts, CatalogError> {
    let mut one = |sql: &str| -> Result<Option<u64>, CatalogError> {
        let rows = c.query(sql, &[])?;
        let v = rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_int());
        Ok(v.and_then(|n| u64::try_from(n).ok()))
    };
    let recordings = one("SELECT n FROM recordings_count")?;
    let audit = one("SELECT seq FROM audit_head")?;
    let bytes = match c.dialect() {
        Dialect::Sqlite => {
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        }
        Dialect::Postgres => "SELECT pg_database_size(current_database())",
    };
    let bytes = c
        .query(bytes, &[])?
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_int())
        .and_then(|n| u64::try_from(n).ok());
    Ok((recordings, bytes, audit))
}

/// The exposition, answered.
fn exposition(s: &Scraped) -> Response<Body> {
    let text = render(&METRICS, &figures(s));
    full(StatusCode::OK, CONTENT_TYPE, text)
}

/// `/metrics` on the web side: an admin's or the metrics role's, by session or token.
pub(super) async fn on_web_side(
    s: Scraped,
    pool: &Pool,
    link: Link,
    req: &Request<Incoming>,
) -> Response<Body> {
    let creds = login::Creds::of(req.headers(), false, link.tls, Some(link.peer.ip()));
    let now_ms = crate::media::unix_ms();
    let answered = pool.run(move || {
        let who = match login::authenticate(&s.catalog, &creds, None, true, now_ms) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        if !who.roles.reads_metrics() {
            let text = "/metrics needs the admin or the metrics role";
            return login::refusal(true, StatusCode::FORBIDDEN, "forbidden", text);
        }
        exposition(&s)
    });
    answered.await.unwrap_or_else(|_| busy())
}

fn busy() -> Response<Body> {
    full(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain; charset=utf-8",
        "busy, try again\n",
    )
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    full(status, "text/plain; charset=utf-8", format!("{text}\n"))
}

/// Serves `/metrics` without authentication on `listener` (a loopback address) until the
/// runtime stops.
pub async fn serve_loopback(listener: TcpListener, s: Scraped, names: host::Names) {
    let s = Arc::new(s);
    let names = Arc::new(names);
    let places = Arc::new(Semaphore::new(PLACES));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(super::HEADER_READ_TIMEOUT)
        .max_header_size(super::MAX_HEADER_SIZE)
        .max_headers(super::MAX_HEADERS);
    loop {
        let Ok(place) = places.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                crate::limited!(crate::logs::Kind::Http, "metrics accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        let (s, names, http) = (s.clone(), names.clone(), http.clone());
        let service = service_fn(move |req| {
            let (s, names) = (s.clone(), names.clone());
            async move { Ok::<_, Infallible>(unauthenticated(&s, &names, local, req).await) }
        });
        tokio::spawn(async move {
            if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                log::debug!("metrics {peer}: {e}");
            }
            drop(place);
        });
    }
}

async fn unauthenticated(
    s: &Arc<Scraped>,
    names: &host::Names,
    local: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let hosts: Vec<&[u8]> = req
        .headers()
        .get_all(header::HOST)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let authority = req.uri().authority().map(|a| a.as_str());
    let head = req.method() == Method::HEAD;
    let mut resp = match names.check(authority, &hosts, local) {
        host::Verdict::Ours => {
            if req.uri().path() != "/metrics" {
                plain(StatusCode::NOT_FOUND, "only /metrics here")
            } else if !matches!(*req.method(), Method::GET | Method::HEAD) {
                let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
                set(&mut r, header::ALLOW, "GET, HEAD");
                r
            } else {
                let s = Scraped::clone(s);
                tokio::task::spawn_blocking(move || exposition(&s))
                    .await
                    .unwrap_or_else(|_| busy())
            }
        }
        host::Verdict::Misdirected => plain(
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not answer to that host name (--http-name)",
        ),
        host::Verdict::Bad(why) => plain(StatusCode::BAD_REQUEST, why),
    };
    if head {
        *resp.body_mut() = Body::empty();
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::loopback_only;

    #[test]
    fn the_unauthenticated_listener_only_on_loopback() {
        for ok in [
            "127.0.0.1:9464",
            "[::1]:9464",
            "127.0.0.2:0",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(loopback_only(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in ["0.0.0.0:9464", "[::]:9464", "192.0.2.1:9464"] {
            let e = loopback_only(bad.parse().unwrap()).unwrap_err();
            assert!(e.contains("not a loopback address"), "{e}");
        }
    }
}
