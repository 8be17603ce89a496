//! The browser client: the files of `web/`, compiled into the binary (rust-embed with
//! `debug-embed`, so debug builds embed too and nothing is read from disk or the network at run
//! time), served at `/` as the router's fallback.
//!
//! Only `GET`/`HEAD` of paths no other route claims reach here. A path naming an embedded file
//! gets that file; any other path without a file extension gets `index.html` (the client routes
//! itself); everything else — unknown `/api/…`, `/ws/…`, `/docs/…` paths, missing files, other
//! methods — keeps the router's problem+json `404 NOT_FOUND`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../../web/"]
struct Assets;

/// Path prefixes owned by the server itself: never answered with the client.
const RESERVED: &[&str] = &[
    "/api",
    "/ws",
    "/docs",
    "/openapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// The client needs nothing but its own origin (and its own WebSocket).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
    object-src 'none'";

/// The router's fallback: the client's files, the client for its own routes, else `404`.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return super::not_found().await.into_response();
    }
    let path = uri.path();
    if is_reserved(path) {
        return super::not_found().await.into_response();
    }
    let name = path.trim_start_matches('/');
    let name = if name.is_empty() { "index.html" } else { name };
    if let Some(file) = Assets::get(name) {
        return serve(name, file, &headers);
    }
    let last = name.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        // A missing asset is a 404, not the page (a broken import should fail loudly).
        return super::not_found().await.into_response();
    }
    match Assets::get("index.html") {
        Some(file) => serve("index.html", file, &headers),
        None => super::not_found().await.into_response(),
    }
}

fn is_reserved(path: &str) -> bool {
    RESERVED.iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn serve(name: &str, file: rust_embed::EmbeddedFile, headers: &HeaderMap) -> Response {
    let hash = file.metadata.sha256_hash();
    let etag = format!(
        "\"{}\"",
        hash[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(file.data.into_owned()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(name)),
        );
        r
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Always revalidate: a new binary must never run with yesterday's modules.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if name.ends_with(".html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::to_bytes;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(method: Method, path: &str, etag: Option<&str>) -> Response {
        let app: Router = Router::new().fallback(fallback);
        let mut req = Request::builder().method(method).uri(path);
        if let Some(e) = etag {
            req = req.header(header::IF_NONE_MATCH, e);
        }
        app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
    }

    fn ctype(r: &Response) -> &str {
        r.headers()[header::CONTENT_TYPE].to_str().unwrap()
    }

    async fn body(r: Response) -> String {
        String::from_utf8(to_bytes(r.into_body(), 1 << 22).await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_root_is_the_client_page() {
        let r = get(Method::GET, "/", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(ctype(&r), "text/html; charset=utf-8");
        assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        assert!(body(r).await.contains("<!doctype html>"));
    }

    #[tokio::test]
    async fn modules_and_styles_have_their_types() {
        let r = get(Method::GET, "/js/app.js", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(ctype(&r), "text/javascript; charset=utf-8");
        let r = get(Method::GET, "/css/app.css", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(ctype(&r), "text/css; charset=utf-8");
    }

    #[tokio::test]
    async fn client_routes_fall_back_to_the_page() {
        for path in ["/lobby", "/rooms/7", "/history"] {
            let r = get(Method::GET, path, None).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(ctype(&r), "text/html; charset=utf-8");
        }
    }

    #[tokio::test]
    async fn server_paths_and_missing_files_stay_problem_404s() {
        for path in [
            "/api/nope",
            "/api",
            "/ws/x",
            "/docs/x",
            "/healthz/x",
            "/js/missing.js",
        ] {
            let r = get(Method::GET, path, None).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(ctype(&r), "application/problem+json", "{path}");
            assert!(body(r).await.contains("\"NOT_FOUND\""), "{path}");
        }
        let r = get(Method::POST, "/lobby", None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn an_unchanged_file_is_not_sent_again() {
        let r = get(Method::GET, "/", None).await;
        let etag = r.headers()[header::ETAG].to_str().unwrap().to_owned();
        let r = get(Method::GET, "/", Some(&etag)).await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn reserved_prefixes_match_whole_segments() {
        assert!(is_reserved("/api"));
        assert!(is_reserved("/api/x"));
        assert!(!is_reserved("/apiary"));
        assert!(!is_reserved("/"));
    }
}
