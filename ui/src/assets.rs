//! Serving the embedded app: exact files with their content type and cache policy, a gzip copy
//! when the client takes it, `index.html` for every client-side route, and a 404 rather than
//! HTML under the API prefixes.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// One file of `ui/web/dist`, as `build.rs` embedded it.
pub(crate) struct Asset {
    /// The URL path, e.g. `/assets/index-3f9a1c.js`.
    pub(crate) path: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) body: &'static [u8],
    pub(crate) gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

pub(crate) const NOT_BUILT: &str = "the web UI was not built: run scripts/build-ui\n";

/// Paths owned by other routers: an unknown one is a client's mistake, not a page.
const API_PREFIXES: &[&str] = &["/api/", "/jaeger/", "/es/", "/v1/"];

/// Vite puts content-hashed files under `/assets/`: a new build has new names, so they may
/// be cached forever; everything else (`index.html`) is revalidated on each load.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub(crate) fn is_built() -> bool {
    ASSETS.iter().any(|a| a.path == "/index.html")
}

pub(crate) async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if API_PREFIXES.iter().any(|p| path.starts_with(p)) || path == "/api" {
        let body = serde_json::json!({
            "status": "error",
            "errorType": "not_found",
            "error": format!("no route for {method} {path}"),
        });
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "the web UI answers GET and HEAD\n",
        )
            .into_response();
    }
    if !is_built() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            NOT_BUILT,
        )
            .into_response();
    }
    let asset = match ASSETS.iter().find(|a| a.path == path) {
        Some(asset) => asset,
        // A missing file (a stale hashed bundle, a typo) is a 404; a path without an
        // extension is one of the app's routes, rendered by index.html.
        None if last_segment_has_extension(path) => {
            return (StatusCode::NOT_FOUND, format!("no file {path}\n")).into_response();
        }
        None => match ASSETS.iter().find(|a| a.path == "/index.html") {
            Some(index) => index,
            None => return (StatusCode::SERVICE_UNAVAILABLE, NOT_BUILT).into_response(),
        },
    };
    respond(asset, &headers, method == Method::HEAD)
}

/// A request for a static file rather than a page: under `/assets/`, or ending in one of the
/// extensions a build produces. Route segments (service names) may hold other dots.
fn last_segment_has_extension(path: &str) -> bool {
    const FILE_EXTENSIONS: &[&str] = &[
        ".js", ".mjs", ".css", ".map", ".ico", ".png", ".svg", ".woff2", ".json", ".txt", ".html",
    ];
    path.starts_with("/assets/") || FILE_EXTENSIONS.iter().any(|e| path.ends_with(e))
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn respond(asset: &Asset, headers: &HeaderMap, head: bool) -> Response {
    let cache = if asset.path.starts_with("/assets/") {
        IMMUTABLE
    } else {
        "no-cache"
    };
    let (body, gzipped) = match asset.gzip {
        Some(gz) if accepts_gzip(headers) => (gz, true),
        _ => (asset.body, false),
    };
    let mut response = if head {
        let mut r = ().into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        r
    } else {
        body.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzipped {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn gzip_negotiation() -> TestResult {
        let with = |v: &str| -> Result<bool, axum::http::header::InvalidHeaderValue> {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v)?);
            Ok(accepts_gzip(&h))
        };
        assert!(with("gzip, deflate, br")?);
        assert!(with("br;q=1.0, GZIP;q=0.5")?);
        assert!(with("*")?);
        assert!(!with("br, deflate")?);
        assert!(!with("gzip;q=0")?);
        assert!(!accepts_gzip(&HeaderMap::new()));
        Ok(())
    }

    #[test]
    fn routes_and_files_are_told_apart() {
        assert!(last_segment_has_extension("/assets/index-abc.js"));
        assert!(last_segment_has_extension("/favicon.ico"));
        assert!(!last_segment_has_extension(
            "/dashboards/service/svc.checkout"
        ));
        assert!(!last_segment_has_extension("/logs"));
    }
}
