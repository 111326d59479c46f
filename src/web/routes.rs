//! Which handler answers a request (pure), and the landing page.

use hyper::Method;

pub use super::escape::escape_html;

/// Path of the liveness endpoint.
pub const HEALTHY_PATH: &str = "/-/healthy";
/// Path of the readiness endpoint.
pub const READY_PATH: &str = "/-/ready";
/// The multi-target endpoint (blackbox exporter's name for it).
pub const PROBE_PATH: &str = "/probe";
/// Path of the configuration reload (lifecycle API, as Prometheus's).
pub const RELOAD_PATH: &str = "/-/reload";

/// The outcome of routing a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Landing,
    Metrics,
    Healthy,
    Ready,
    /// `/api/...`: JSON views (and pipeline graphs as SVG).
    Api,
    /// `/ui` and `/ui/...`: the inspection page.
    Ui,
    /// `/probe?target=…`: one target's metrics (the multi-target pattern).
    Probe,
    /// `POST`/`PUT /-/reload`: reload the configuration (if the lifecycle API is enabled).
    Reload,
    NotFound,
    /// A known path with a method other than GET or HEAD.
    MethodNotAllowed,
}

/// The methods every route but the reload accepts, for the `Allow` header of a 405.
pub const ALLOWED_METHODS: &str = "GET, HEAD";
/// The methods of [`RELOAD_PATH`] (Prometheus's), for the `Allow` header of a 405 there.
pub const RELOAD_METHODS: &str = "POST, PUT";

/// The `Allow` header of a 405 on `path`.
pub fn allowed_methods(path: &str) -> &'static str {
    if path == RELOAD_PATH {
        RELOAD_METHODS
    } else {
        ALLOWED_METHODS
    }
}

/// Routes on the path (query excluded) and method.
pub fn route(method: &Method, path: &str, telemetry_path: &str) -> Route {
    // Changes state, so never on GET (a link or a prefetch must not reload).
    if path == RELOAD_PATH {
        return if method == Method::POST || method == Method::PUT {
            Route::Reload
        } else {
            Route::MethodNotAllowed
        };
    }
    let target = match path {
        "/" => Route::Landing,
        HEALTHY_PATH => Route::Healthy,
        READY_PATH => Route::Ready,
        p if p == telemetry_path => Route::Metrics,
        p if p.starts_with("/api/") => Route::Api,
        p if p == "/ui" || p.starts_with("/ui/") => Route::Ui,
        PROBE_PATH => Route::Probe,
        _ => return Route::NotFound,
    };
    if method == Method::GET || method == Method::HEAD {
        target
    } else {
        Route::MethodNotAllowed
    }
}

/// The landing page: version, targets, and links to the other endpoints.
pub fn landing_page(version: &str, telemetry_path: &str, targets: &[String]) -> String {
    let path = escape_html(telemetry_path);
    let targets_html: String = if targets.is_empty() {
        "<li>(none)</li>".to_owned()
    } else {
        targets
            .iter()
            .map(|t| format!("<li><code>{}</code></li>", escape_html(t)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Kurento Exporter</title></head>
<body>
<h1>Kurento Exporter</h1>
<p>Prometheus exporter for Kurento Media Server, version <code>{version}</code>.</p>
<ul>
<li><a href="{path}">Metrics</a> (<code>{path}</code>)</li>
<li><a href="{HEALTHY_PATH}">Health</a> (<code>{HEALTHY_PATH}</code>)</li>
<li><a href="{READY_PATH}">Readiness</a> (<code>{READY_PATH}</code>)</li>
<li><a href="{ui}">Inspection page</a>: every KMS, its pipelines and their graphs (<code>{ui}</code>)</li>
<li><a href="/api/v1/targets">Targets (JSON)</a>; zombies per target at <code>/api/v1/targets/&lt;kms&gt;/zombies</code></li>
</ul>
<h2>Configured targets</h2>
<p>As configured at start. The current targets, including those found in <code>targets_files</code>
or probed through <code>/probe</code>, each with its source: <a href="/api/v1/targets">/api/v1/targets</a>
and the inspection page.</p>
<ul>
{targets_html}
</ul>
</body>
</html>
"#,
        version = escape_html(version),
        ui = super::ui::UI_PATH,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        let cases = [
            (Method::GET, "/", Route::Landing),
            (Method::HEAD, "/", Route::Landing),
            (Method::GET, "/metrics", Route::Metrics),
            (Method::HEAD, "/metrics", Route::Metrics),
            (Method::POST, "/metrics", Route::MethodNotAllowed),
            (Method::DELETE, "/", Route::MethodNotAllowed),
            (Method::GET, "/-/healthy", Route::Healthy),
            (Method::GET, "/-/ready", Route::Ready),
            (Method::PUT, "/-/ready", Route::MethodNotAllowed),
            (Method::GET, "/metrics/", Route::NotFound),
            (Method::GET, "/Metrics", Route::NotFound),
            (Method::GET, "/favicon.ico", Route::NotFound),
            (Method::POST, "/nope", Route::NotFound),
            (Method::POST, "/-/reload", Route::Reload),
            (Method::PUT, "/-/reload", Route::Reload),
            (Method::GET, "/-/reload", Route::MethodNotAllowed),
            (Method::HEAD, "/-/reload", Route::MethodNotAllowed),
            (Method::GET, "", Route::NotFound),
            (Method::GET, "/ui/", Route::Ui),
            (Method::GET, "/ui", Route::Ui),
            (Method::GET, "/ui/app.js", Route::Ui),
            (Method::POST, "/ui/", Route::MethodNotAllowed),
            (Method::GET, "/uix", Route::NotFound),
        ];
        for (method, path, want) in cases {
            assert_eq!(route(&method, path, "/metrics"), want, "{method} {path}");
        }
    }

    #[test]
    fn custom_telemetry_path_replaces_metrics() {
        assert_eq!(route(&Method::GET, "/m", "/m"), Route::Metrics);
        assert_eq!(route(&Method::GET, "/metrics", "/m"), Route::NotFound);
    }

    #[test]
    fn landing_page_links_and_escapes() {
        let page = landing_page(
            "1.0 <b>",
            "/m?x&y",
            &["kms-a".to_owned(), "kms<b>".to_owned()],
        );
        assert!(
            page.contains(r#"<a href="/m?x&amp;y">Metrics</a>"#),
            "{page}"
        );
        assert!(page.contains(r#"<a href="/-/healthy">"#), "{page}");
        assert!(page.contains(r#"<a href="/-/ready">"#), "{page}");
        assert!(
            page.contains(r#"<a href="/ui/">Inspection page</a>"#),
            "{page}"
        );
        assert!(
            page.contains("version <code>1.0 &lt;b&gt;</code>"),
            "{page}"
        );
        assert!(page.contains("<li><code>kms-a</code></li>"), "{page}");
        assert!(
            page.contains("<li><code>kms&lt;b&gt;</code></li>"),
            "{page}"
        );
    }
}
