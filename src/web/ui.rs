//! The inspection page (`/ui/`): three static files compiled into the binary (no CDN, no build
//! step). The page reads only the JSON API and the graph SVGs, so viewing it costs KMS nothing.

/// Where the page lives.
pub const UI_PATH: &str = "/ui/";

/// What a `/ui` path answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiAnswer {
    File {
        content_type: &'static str,
        body: &'static str,
    },
    /// `/ui` without the slash: the page's relative links need it.
    Redirect(&'static str),
}

const FILES: [(&str, &str, &str); 3] = [
    (
        "/ui/",
        "text/html; charset=utf-8",
        include_str!("../../ui/index.html"),
    ),
    (
        "/ui/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/app.js"),
    ),
    (
        "/ui/style.css",
        "text/css; charset=utf-8",
        include_str!("../../ui/style.css"),
    ),
];

/// The answer for `path`, or `None` when no file lives there.
pub fn answer(path: &str) -> Option<UiAnswer> {
    if path == "/ui" {
        return Some(UiAnswer::Redirect(UI_PATH));
    }
    FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|&(_, content_type, body)| UiAnswer::File { content_type, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_types() {
        let Some(UiAnswer::File { content_type, body }) = answer("/ui/") else {
            panic!("no page");
        };
        assert_eq!(content_type, "text/html; charset=utf-8");
        assert!(body.contains("app.js") && body.contains("style.css"));
        assert!(matches!(
            answer("/ui/app.js"),
            Some(UiAnswer::File {
                content_type: "text/javascript; charset=utf-8",
                ..
            })
        ));
        assert!(matches!(
            answer("/ui/style.css"),
            Some(UiAnswer::File {
                content_type: "text/css; charset=utf-8",
                ..
            })
        ));
        assert_eq!(answer("/ui"), Some(UiAnswer::Redirect("/ui/")));
        assert_eq!(answer("/ui/nope.js"), None);
        assert_eq!(answer("/ui/index.html/.."), None);
    }

    #[test]
    fn the_page_never_injects_markup() {
        // Data goes in with textContent; only the server-escaped SVG is parsed, as XML.
        let Some(UiAnswer::File { body: js, .. }) = answer("/ui/app.js") else {
            panic!("no script");
        };
        assert!(!js.contains("innerHTML"), "innerHTML in app.js");
        assert!(!js.contains("insertAdjacentHTML"));
        assert!(!js.contains("document.write"));
        let Some(UiAnswer::File { body: html, .. }) = answer("/ui/") else {
            panic!("no page");
        };
        assert!(
            !html.contains("<script>"),
            "inline scripts break a strict CSP"
        );
        assert!(!html.contains("style="), "inline styles break a strict CSP");
    }
}
