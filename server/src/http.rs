//! The record server's web side (`--http ADDR:PORT`): a page that lists, searches, plays and
//! downloads the recordings, and a JSON API for the same (`docs/server-api.md`).
//!
//! - Sans-IO: `route` (method and path to a resource), `rid` (the recording identifier),
//!   `query` (the search), `page` (the HTML).
//! - I/O: the listing and the lookups are the catalog's ([`crate::catalog`]); `recording`
//!   reads the Record file headers of a recording. The downloads (a file as stored,
//!   the WAV made from a session's files, `Range`) are [`callrec_platform::download`]'s, shared with the
//!   agent. Both run only on the reader threads of its pool ([`READERS`] of them): the runtime
//!   thread, which the control connections share, never waits for a disk.
//! - The driver: `download::guard` drops a client that stops reading; this file accepts connections (at
//!   most [`MAX_CONNECTIONS`]), runs hyper on them and turns resources into answers, whose
//!   bodies [`crate::http::body`] streams one block in flight per connection.

mod admin;
mod audit;
pub mod body;
mod check;
pub mod health;
pub mod host;
pub mod login;
pub mod metrics;
mod page;
pub(crate) mod query;
pub(crate) mod recording;
mod retention;
mod route;
pub mod self_signed;
pub mod tls;
pub mod web;

#[cfg(test)]
mod tests;

use super::store::Store;
use crate::audit::web as entry;
use crate::audit::Action;
use crate::auth::role::Need;
use crate::auth::Principal;
use crate::catalog::filter::{Filter, PageAsk};
use crate::catalog::{Catalog, CatalogError, Page};
use crate::http::body::Body;
use crate::rid::Rid;
use bytes::Bytes;
use callrec_platform::download::guard::StallGuard;
use callrec_platform::download::pool::Pool;
use callrec_platform::download::range::{ranged, Ranged};
use callrec_platform::download::source::{FileBlocks, Source, WavBlocks};
use check::Check;
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use query::Search;
use recording::Entry;
use route::{Miss, Route};
use std::convert::Infallible;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// HTTP connections served at once; further clients wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// Request line and headers, in bytes; a larger request is answered 431 (by hyper).
pub const MAX_HEADER_SIZE: usize = 16 * 1024;
/// Header fields in one request.
pub const MAX_HEADERS: usize = 64;
/// A client must send a request's headers within this (also the keep-alive idle limit).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A client that reads nothing of an answer for this long is dropped.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Rows of the page by default.
pub const PAGE_LIMIT: usize = 200;
/// Objects of the API's listing by default.
pub const API_LIMIT: usize = 1000;
/// The most either returns at once (`limit`).
pub const MAX_LIMIT: usize = 10_000;
/// Threads that read and decode the storage for all connections.
pub const READERS: usize = 4;
/// Jobs waiting for a reader. A connection has at most one job queued or running; a client that
/// leaves may leave one behind. Past this, a request is answered 503 and a stream is cut.
pub const READER_QUEUE: usize = 2 * MAX_CONNECTIONS;
/// hyper's read and write buffers, per connection.
const MAX_BUF: usize = 64 * 1024;

/// What the web side serves, and how.
pub struct Site {
    pub store: Store,
    pub catalog: Catalog,
    /// The storage's free space (for `/healthz`).
    pub space: crate::space::Space,
    /// TLS (`--tls-cert`, `--tls-key`); `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The names answered besides the address reached (`--http-name`, [`host`]).
    pub names: host::Names,
}

/// The connection a request came on, in the request's extensions: who is at the other end
/// (the login throttle and the audit trail's `from`), and whether it is TLS (a session cookie
/// is then `Secure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The connection is TLS.
    pub tls: bool,
    pub peer: SocketAddr,
    /// The address the client reached (this server's).
    pub local: SocketAddr,
}

/// Serves the web side on `listener` until the runtime stops.
pub async fn serve(listener: TcpListener, site: Site) {
    let site = Arc::new(site);
    let acceptor = site.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let pool = match Pool::new(READERS, READER_QUEUE) {
        Ok(p) => p,
        Err(e) => {
            log::error!("http: no reader threads ({e}); web side off");
            return;
        }
    };
    let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_HEADER_SIZE)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_BUF);
    loop {
        // A place first, then the connection: past the limit, clients wait in the backlog.
        let Ok(place) = places.clone().acquire_owned().await else {
            return; // the semaphore is never closed
        };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                crate::limited!(crate::logs::Kind::Http, "http accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        let link = Link {
            tls: acceptor.is_some(),
            peer,
            local,
        };
        let (site, pool) = (site.clone(), pool.clone());
        let service = service_fn(move |req| {
            let (site, pool) = (site.clone(), pool.clone());
            async move { Ok::<_, Infallible>(front(site, pool, link, req).await) }
        });
        let io = StallGuard::new(stream, WRITE_STALL_TIMEOUT);
        let (http, acceptor) = (http.clone(), acceptor.clone());
        // The handshake runs here, in the connection's task and inside its place: a client
        // that never finishes it holds that place for HANDSHAKE_TIMEOUT, not the loop.
        tokio::spawn(async move {
            let served = match acceptor {
                None => http.serve_connection(TokioIo::new(io), service).await,
                Some(tls) => {
                    match tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, tls.accept(io)).await {
                        Ok(Ok(io)) => http.serve_connection(TokioIo::new(io), service).await,
                        Ok(Err(e)) => {
                            log::debug!("http {peer}: TLS handshake: {e}");
                            Ok(())
                        }
                        Err(_) => {
                            log::debug!("http {peer}: no TLS handshake in time");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = served {
                log::debug!("http {peer}: {e}");
            }
            drop(place);
        });
    }
}

/// Before [`answer`]: the Host check (421), `/healthz`, and HSTS on every answer under TLS.
async fn front(
    site: Arc<Site>,
    pool: Pool,
    link: Link,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let verdict = {
        let hosts: Vec<&[u8]> = req
            .headers()
            .get_all(header::HOST)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let authority = req.uri().authority().map(|a| a.as_str());
        site.names.check(authority, &hosts, link.local)
    };
    let head = req.method() == Method::HEAD;
    let mut resp = match verdict {
        host::Verdict::Ours => {
            req.extensions_mut().insert(link);
            // `/healthz` needs no authentication: answered here, before `answer`'s gate.
            match route::resolve(req.method().as_str(), req.uri().path()) {
                Ok(Route::Health) => healthz(&site, &pool).await,
                // Its own authentication and role (`metrics`).
                Ok(Route::Metrics) => {
                    let s = metrics::Scraped {
                        catalog: site.catalog.clone(),
                        space: site.space.clone(),
                        storage: site.store.root().to_owned(),
                    };
                    metrics::on_web_side(s, &pool, link, &req).await
                }
                Err(Miss::Method) if req.uri().path() == "/metrics" => {
                    let mut r = error(true, StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
                    set(&mut r, header::ALLOW, "GET, HEAD");
                    r
                }
                Err(Miss::Method) if req.uri().path() == "/healthz" => {
                    let mut r = error(false, StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
                    set(&mut r, header::ALLOW, "GET, HEAD");
                    r
                }
                _ => {
                    let (store, catalog) = (site.store.clone(), site.catalog.clone());
                    answer(store, catalog, site.space.clone(), pool, req).await
                }
            }
        }
        host::Verdict::Misdirected => error(
            false,
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not answer to that host name (--http-name)",
        ),
        host::Verdict::Bad(why) => error(false, StatusCode::BAD_REQUEST, why),
    };
    if head {
        *resp.body_mut() = Body::empty();
    }
    if link.tls {
        set(&mut resp, header::STRICT_TRANSPORT_SECURITY, tls::HSTS);
    }
    resp
}

/// `/healthz` ([`health`]): `ok`, or 503 and what is wrong.
async fn healthz(site: &Arc<Site>, pool: &Pool) -> Response<Body> {
    let s = site.clone();
    let verdict = pool
        .run(move || health::check(&s.catalog, &s.space, s.store.root()))
        .await;
    let text = |status, word: &str| full(status, "text/plain; charset=utf-8", format!("{word}\n"));
    match verdict {
        Ok(Ok(())) => text(StatusCode::OK, "ok"),
        Ok(Err(sick)) => text(StatusCode::SERVICE_UNAVAILABLE, sick.word()),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "busy"),
    }
}

/// What a request asks for, once its method, path, query and range are read.
#[derive(Debug)]
struct Ask {
    route: Route,
    search: Search,
    filter: Filter,
    range: Option<Vec<u8>>,
    /// The query string (the audit trail's routes read it themselves).
    query: Option<String>,
    method: Method,
    /// The body of a change (any method but GET and HEAD), at most [`MAX_BODY`] bytes;
    /// `None` if there was none or it was larger.
    body: Option<Vec<u8>>,
}

/// The largest body a change of the API may send.
pub const MAX_BODY: usize = 64 * 1024;

async fn answer(
    store: Store,
    catalog: Catalog,
    space: crate::space::Space,
    pool: Pool,
    req: Request<Incoming>,
) -> Response<Body> {
    let head = req.method() == Method::HEAD;
    let path = req.uri().path().to_string();
    let api = path == "/api" || path.starts_with("/api/");
    let link = req.extensions().get::<Link>().copied();
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD);
    let creds = login::Creds::of(
        req.headers(),
        changes,
        link.is_some_and(|l| l.tls),
        link.map(|l| l.peer.ip()),
    );
    let now_ms = crate::media::unix_ms();
    let route = route::resolve(req.method().as_str(), &path);
    if let Ok(Route::Asset(name)) = &route {
        // The script and the stylesheet hold no data: served without a session (the login
        // page needs the stylesheet).
        let mut resp = web::asset(name);
        if head {
            *resp.body_mut() = Body::empty();
        }
        return resp;
    }
    if let Ok(r @ (Route::Login | Route::Logout)) = route {
        // The login page and the logout: their own authentication (`login`).
        let body = if changes {
            read_form(req.into_body()).await
        } else {
            None
        };
        let c = catalog.clone();
        let resp = pool.run(move || match (r, changes) {
            (Route::Login, false) => login::page(&c),
            (Route::Login, true) => login::login(&c, &creds, body.as_deref(), now_ms),
            _ => login::logout(&c, &creds, body.as_deref(), now_ms),
        });
        let mut resp = resp
            .await
            .unwrap_or_else(|_| error(false, StatusCode::SERVICE_UNAVAILABLE, "busy, try again"));
        if head {
            *resp.body_mut() = Body::empty();
        }
        return resp;
    }
    let unix_ms = |t: &_| {
        let secs = callrec_platform::clock::unix_of_local(t)?;
        u64::try_from(secs).ok().map(|s| s * 1000)
    };
    let searched = Search::parse(req.uri().query())
        .and_then(|s| s.filter(unix_ms).map(|f| (s, f)))
        .map_err(|e| e.to_string());
    let range = req
        .headers()
        .get(header::RANGE)
        .map(|v| v.as_bytes().to_vec());
    let query = req.uri().query().map(str::to_string);
    let method = req.method().clone();
    let body = if changes {
        read_body(req.into_body(), MAX_BODY).await
    } else {
        None
    };
    let readers = pool.clone();
    let logged = path.clone();
    let answered = pool.run(move || {
        // Who asks first: nothing, not even a 404 or a 400, is told to a stranger.
        let principal = match login::authenticate(&catalog, &creds, None, api, now_ms) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        let route = match route {
            Ok(r) => r,
            Err(Miss::NotFound) => return error(api, StatusCode::NOT_FOUND, "no such page"),
            Err(Miss::BadId) => {
                return error(api, StatusCode::BAD_REQUEST, "malformed recording id")
            }
            Err(Miss::Method) => {
                let allow = route::allowed_at(&path);
                let mut r = error(api, StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                set(&mut r, header::ALLOW, allow);
                return r;
            }
        };
        let (search, filter) = match searched {
            Ok(x) => x,
            Err(e) => return error(api, StatusCode::BAD_REQUEST, &e),
        };
        let ask = Ask {
            route,
            search,
            filter,
            range,
            query,
            method,
            body,
        };
        respond(&store, &catalog, &space, &readers, ask, &principal)
    });
    let mut resp = match answered.await {
        Ok(r) => r,
        Err(_) => error(api, StatusCode::SERVICE_UNAVAILABLE, "busy, try again"),
    };
    log::debug!("http {logged}: {}", resp.status().as_u16());
    if head {
        // The headers of GET (Content-Length included), no body; hyper keeps the length.
        *resp.body_mut() = Body::empty();
    }
    resp
}

/// A form body of at most [`login::MAX_FORM`] bytes; `None` if larger or unreadable.
async fn read_form(body: Incoming) -> Option<Vec<u8>> {
    read_body(body, login::MAX_FORM).await
}

/// A body of at most `limit` bytes; `None` if larger or unreadable.
async fn read_body(body: Incoming, limit: usize) -> Option<Vec<u8>> {
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, limit);
    limited.collect().await.ok().map(|b| b.to_bytes().to_vec())
}

/// The answer to `ask` for `who`; reads the storage (runs on a reader thread). A streamed
/// body reads its blocks on `pool` later. A recording outside `who`'s scope does not exist.
fn respond(
    store: &Store,
    catalog: &Catalog,
    space: &crate::space::Space,
    pool: &Pool,
    ask: Ask,
    who: &Principal,
) -> Response<Body> {
    let Ask {
        route,
        search,
        mut filter,
        range,
        query,
        method,
        body,
    } = ask;
    let range = range.as_deref();
    let now_ms = crate::media::unix_ms();
    let api = matches!(
        route,
        Route::List | Route::One(_) | Route::Audit | Route::History(_)
    );
    match &route {
        Route::App => return web::page(),
        Route::Me => {
            return json(&web::me(who)).unwrap_or_else(|(status, text)| error(true, status, text))
        }
        Route::Admin(resource) => {
            let asked = admin::Asked {
                resource,
                method: &method,
                body: body.as_deref(),
            };
            return admin::answer(catalog, store.root(), Some(space), who, asked, now_ms);
        }
        _ => {}
    }
    if let Route::Keep(keep) = &route {
        let body = body.as_deref();
        return retention::answer(store, catalog, who, keep, &method, body, now_ms);
    }
    if let Route::Audit = route {
        let r = audit::trail(catalog, who, query.as_deref());
        return r.unwrap_or_else(|(status, text)| error(true, status, text));
    }
    if let Route::History(rid) = &route {
        if !audit::may_read_history(who) {
            let text = "a recording's history needs the auditor or the supervisor role";
            return login::refusal(true, StatusCode::FORBIDDEN, "forbidden", text);
        }
        // Outside the requester's scope the recording does not exist, for auditors too.
        let r = find(store, catalog, rid).and_then(|e| {
            if who.scope.reaches(&e.sidecar.group) {
                audit::history(catalog, query.as_deref(), &e.rid.to_string())
            } else {
                Err((StatusCode::NOT_FOUND, "no such recording"))
            }
        });
        return r.unwrap_or_else(|(status, text)| error(true, status, text));
    }
    let need = match route {
        Route::Wav { .. } | Route::Original { .. } => Need::Audio,
        _ => Need::Metadata,
    };
    if !need.allowed(who.roles) {
        let text = match need {
            Need::Audio => "listening and downloading need the supervisor role",
            Need::Metadata => "the recordings need the supervisor or the admin role",
        };
        return login::refusal(api, StatusCode::FORBIDDEN, "forbidden", text);
    }
    if !who.scope.is_all() {
        filter.scope = Some(who.scope.groups().to_vec());
    }
    let find = |store: &Store, catalog: &Catalog, rid: &Rid| {
        find(store, catalog, rid).and_then(|e| {
            if who.scope.reaches(&e.sidecar.group) {
                Ok(e)
            } else {
                Err((StatusCode::NOT_FOUND, "no such recording"))
            }
        })
    };
    let result = match route {
        Route::Page => {
            let ask = search.page(PAGE_LIMIT, MAX_LIMIT);
            let selected = searched(catalog, who, &search, now_ms)
                .and_then(|()| select(store, catalog, &filter, &ask));
            selected.map(|(rows, page)| {
                let html = page::render(&rows, &search, page.total, page.next.as_ref());
                let html = html.replacen(
                    "<body class=\"plain\">\n",
                    &format!("<body class=\"plain\">\n{}", login::banner(who)),
                    1,
                );
                let mut r = full(StatusCode::OK, "text/html; charset=utf-8", html);
                web::guard(&mut r);
                r
            })
        }
        Route::List => {
            let ask = search.page(API_LIMIT, MAX_LIMIT);
            let selected = searched(catalog, who, &search, now_ms)
                .and_then(|()| select(store, catalog, &filter, &ask));
            selected.and_then(|(rows, page)| {
                let mut r = json(&rows)?;
                let total = page.total.to_string();
                set(&mut r, HeaderName::from_static("x-total-count"), &total);
                if let Some(next) = page.next {
                    set(
                        &mut r,
                        HeaderName::from_static("x-next-cursor"),
                        &next.to_string(),
                    );
                }
                Ok(r)
            })
        }
        Route::One(rid) => find(store, catalog, &rid).and_then(|e| {
            let mut view = e.view();
            retention::annotate(catalog, std::slice::from_mut(&mut view)).map_err(unavailable)?;
            json(&view)
        }),
        Route::Wav { rid, attachment } => find(store, catalog, &rid).and_then(|e| {
            // A HEAD is sent no audio: it is no listen and no download.
            if method != Method::HEAD && audit::starts(range) {
                let (action, file) = match attachment {
                    false => (Action::LISTEN, "audio.wav"),
                    true => (Action::DOWNLOAD, "download.wav"),
                };
                let what = serde_json::json!({ "file": file });
                audit::record(
                    catalog,
                    &entry::event(who, action, &rid.to_string(), what),
                    now_ms,
                )?;
            }
            Ok(wav(&e, catalog, attachment, range, pool))
        }),
        Route::Original { rid, n } => find(store, catalog, &rid).and_then(|e| {
            if method != Method::HEAD && audit::starts(range) {
                let what = serde_json::json!({ "file": "original", "n": n });
                let event = entry::event(who, Action::DOWNLOAD, &rid.to_string(), what);
                audit::record(catalog, &event, now_ms)?;
            }
            original(&e, catalog, n, range, pool)
        }),
        // Answered by `answer` before `respond`, or above; never asked here.
        Route::Login
        | Route::Logout
        | Route::Audit
        | Route::History(_)
        | Route::Asset(_)
        | Route::App
        | Route::Me
        | Route::Admin(_)
        | Route::Keep(_) => Err((StatusCode::NOT_FOUND, "no such page")),
        // Answered by `front` before `answer`; never asked here.
        Route::Health | Route::Metrics => Err((StatusCode::NOT_FOUND, "no such page")),
    };
    result.unwrap_or_else(|(status, text)| error(api, status, text))
}

type Failure = (StatusCode, &'static str);

/// Writes the search's entry (its filters and page), or refuses to answer it.
fn searched(
    catalog: &Catalog,
    who: &Principal,
    search: &Search,
    now_ms: u64,
) -> Result<(), Failure> {
    let event = entry::event(who, Action::SEARCH, "", entry::search_what(search));
    audit::record(catalog, &event, now_ms)
}

/// The catalog's answer to a search, as the page and the API show it.
fn select(
    store: &Store,
    catalog: &Catalog,
    filter: &Filter,
    ask: &PageAsk,
) -> Result<(Vec<recording::View>, Page), Failure> {
    let page = catalog.search(filter, ask).map_err(unavailable)?;
    let mut rows: Vec<recording::View> = page
        .rows
        .iter()
        .filter_map(|row| Entry::of_row(store, row.clone()))
        .map(|e| e.view())
        .collect();
    retention::annotate(catalog, &mut rows).map_err(unavailable)?;
    Ok((rows, page))
}

fn unavailable(e: CatalogError) -> Failure {
    crate::limited!(crate::logs::Kind::Http, "http: {e}");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the catalog is unavailable",
    )
}

fn find(store: &Store, catalog: &Catalog, rid: &Rid) -> Result<Entry, Failure> {
    match catalog.get(&rid.to_string()) {
        Ok(Some(row)) => {
            Entry::of_row(store, row).ok_or((StatusCode::NOT_FOUND, "no such recording"))
        }
        Ok(None) => Err((StatusCode::NOT_FOUND, "no such recording")),
        Err(e) => Err(unavailable(e)),
    }
}

/// The PCM16 WAV of a recording, streamed; its files checked if it is sent whole.
fn wav(
    e: &Entry,
    catalog: &Catalog,
    attachment: bool,
    range: Option<&[u8]>,
    pool: &Pool,
) -> Response<Body> {
    let files = e.wav();
    for name in &files.missing {
        Check::missing(e, catalog, name);
    }
    let len = files.plan.len();
    let Some((status, start, end)) = part_of(len, range) else {
        return unsatisfiable(len);
    };
    let mut check = Check::new(e, catalog);
    if (start, end) == (0, len) {
        for (i, f) in files.stored.iter().enumerate() {
            // A file whose header says less than it holds is not read whole by the WAV.
            if f.whole {
                check.watch(i, &f.name, f.len, &f.header);
            }
        }
    }
    let source = Source::Wav(Box::new(WavBlocks::new(
        files.paths,
        files.plan,
        start,
        end,
    )));
    let body = Body::checked(source, end - start, pool.clone(), check);
    let mut r = streamed(status, start, end, len, "audio/wav", body);
    set(&mut r, X_INTEGRITY.clone(), e.integrity().name());
    let how = if attachment { "attachment" } else { "inline" };
    let disposition = format!("{how}; filename=\"{}_pcm16.wav\"", e.rid.stem());
    set(&mut r, header::CONTENT_DISPOSITION, &disposition);
    r
}

/// The `n`th Record file of a recording as stored, streamed; checked if it is sent whole.
fn original(
    e: &Entry,
    catalog: &Catalog,
    n: u32,
    range: Option<&[u8]>,
    pool: &Pool,
) -> Result<Response<Body>, Failure> {
    let missing = (StatusCode::NOT_FOUND, "no such file");
    let files = e.files();
    let name = files.get(n as usize - 1).ok_or(missing)?;
    let unreadable = |err: io::Error| {
        crate::limited!(crate::logs::Kind::Http, "http: {}: {name}: {err}", e.rid);
        (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file")
    };
    let file = match File::open(e.slot.dir.join(name)) {
        Ok(f) => f,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            Check::missing(e, catalog, name);
            return Err(missing);
        }
        Err(err) => return Err(unreadable(err)),
    };
    // What the file holds now; a file still being written grows after this.
    let len = file.metadata().map_err(unreadable)?.len();
    let Some((status, start, end)) = part_of(len, range) else {
        return Ok(unsatisfiable(len));
    };
    let mut check = Check::new(e, catalog);
    if (start, end) == (0, len) {
        check.watch(0, name, len, &[]);
    }
    let source = Source::File(FileBlocks::new(file, start, end - start).map_err(unreadable)?);
    let body = Body::checked(source, end - start, pool.clone(), check);
    let mut r = streamed(status, start, end, len, "application/octet-stream", body);
    set(&mut r, X_INTEGRITY.clone(), e.file_integrity(name).name());
    let disposition = format!("attachment; filename=\"{name}\"");
    set(&mut r, header::CONTENT_DISPOSITION, &disposition);
    Ok(r)
}

/// A download's header: the state of what it sends after the last checks, before this one.
static X_INTEGRITY: HeaderName = HeaderName::from_static("x-integrity");

/// Which bytes of an answer of `len` bytes to send: 200 all or 206 a range; `None`: 416.
fn part_of(len: u64, range: Option<&[u8]>) -> Option<(StatusCode, u64, u64)> {
    match ranged(range, len) {
        Ranged::Full => Some((StatusCode::OK, 0, len)),
        Ranged::Part { start, end } => Some((StatusCode::PARTIAL_CONTENT, start, end)),
        Ranged::Unsatisfiable => None,
    }
}

/// The 416 answer for an answer of `len` bytes.
fn unsatisfiable(len: u64) -> Response<Body> {
    let mut r = error(
        false,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range not satisfiable",
    );
    set(&mut r, header::CONTENT_RANGE, &format!("bytes */{len}"));
    r
}

/// Bytes `start..end` of an answer of `len` bytes, streamed by `body`.
fn streamed(
    status: StatusCode,
    start: u64,
    end: u64,
    len: u64,
    content_type: &'static str,
    body: Body,
) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, content_type);
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    set(&mut r, header::ACCEPT_RANGES, "bytes");
    // Audio and files are never kept by a browser or a proxy: what someone heard must be
    // fetched (and so recorded) again.
    set(&mut r, header::CACHE_CONTROL, "no-store");
    set(&mut r, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if status == StatusCode::PARTIAL_CONTENT {
        let content_range = format!("bytes {start}-{}/{len}", end - 1);
        set(&mut r, header::CONTENT_RANGE, &content_range);
    }
    r
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Response<Body>, Failure> {
    match serde_json::to_vec(value) {
        Ok(v) => Ok(full(StatusCode::OK, "application/json", v)),
        Err(e) => {
            log::error!("http: json: {e}");
            Err((StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
        }
    }
}

/// An error: JSON `{"error": CODE, "message": TEXT}` for the API (as every API error), plain
/// text otherwise.
fn error(api: bool, status: StatusCode, text: &str) -> Response<Body> {
    if api {
        let body = serde_json::json!({ "error": code_of(status), "message": text }).to_string();
        full(status, "application/json", body)
    } else {
        full(status, "text/plain; charset=utf-8", format!("{text}\n"))
    }
}

/// The stable code of an error that only a status and a text describe.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::MISDIRECTED_REQUEST => "misdirected",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "refused",
    }
}

/// A whole answer with its length and the headers every page and API answer carries.
fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let body: Bytes = body.into();
    let len = body.len() as u64;
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, content_type);
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    set(&mut r, header::CACHE_CONTROL, "no-store");
    set(&mut r, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(&mut r, header::REFERRER_POLICY, "no-referrer");
    r
}

/// Sets a header; every value set here is ASCII made by this file (a bad one is logged).
fn set(r: &mut Response<Body>, name: HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(v) => {
            r.headers_mut().insert(name, v);
        }
        Err(_) => log::error!("http: bad header value for {name}"),
    }
}
