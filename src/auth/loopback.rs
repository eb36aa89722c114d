//! The two ways Google's answer reaches `gphotosd auth`: the browser's redirect to a
//! listener on `127.0.0.1` ([`Loopback`]), or the user pasting the redirected URL
//! ([`Answer::from_pasted`]) when the browser runs on another machine and its redirect
//! lands nowhere.
//!
//! The listener speaks just enough HTTP/1.1 for one browser request: it is not a web
//! server, it only ever sees the redirect (plus the odd `favicon.ico`), and pulling in a
//! server framework for that would be most of the attack surface of this command.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A browser that connects but sends nothing is dropped after this long, so it cannot hold
/// a connection task forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The redirect request is a few hundred bytes; anything much larger is not Google's.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// What Google put on the redirect URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The user consented: a single-use authorization code.
    Code {
        code: String,
        state: Option<String>,
        /// The granted scopes, space-separated, as Google lists them on the redirect.
        scope: Option<String>,
    },
    /// The user refused (`access_denied`) or Google refused the request.
    Error {
        error: String,
        description: Option<String>,
        state: Option<String>,
    },
}

/// Never shows the code: it can be exchanged for tokens until it is used.
impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Code { scope, .. } => f
                .debug_struct("Code")
                .field("scope", scope)
                .finish_non_exhaustive(),
            Answer::Error {
                error, description, ..
            } => f
                .debug_struct("Error")
                .field("error", error)
                .field("description", description)
                .finish_non_exhaustive(),
        }
    }
}

impl Answer {
    /// The answer in a redirect's query string, if it carries one (`code` or `error`).
    pub(crate) fn from_query(query: &str) -> Option<Answer> {
        let mut code = None;
        let mut state = None;
        let mut scope = None;
        let mut error = None;
        let mut description = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "code" => &mut code,
                "state" => &mut state,
                "scope" => &mut scope,
                "error" => &mut error,
                "error_description" => &mut description,
                _ => continue,
            };
            *slot = Some(v.into_owned());
        }
        match (error, code) {
            (Some(error), _) => Some(Answer::Error {
                error,
                description,
                state,
            }),
            (None, Some(code)) if !code.is_empty() => Some(Answer::Code { code, state, scope }),
            _ => None,
        }
    }

    /// The answer in a line the user pasted: the whole redirected URL as the address bar
    /// shows it (possibly quoted, or with the scheme cut off by a sloppy copy), or just its
    /// query string.
    pub(crate) fn from_pasted(line: &str) -> Option<Answer> {
        let line = line
            .trim()
            .trim_matches(|c| matches!(c, '"' | '\'' | '<' | '>'));
        let query = match line.split_once('?') {
            Some((_, q)) => q,
            None => line,
        };
        let query = query.split('#').next().unwrap_or_default();
        Answer::from_query(query)
    }

    /// The `state` Google echoed back.
    pub(crate) fn state(&self) -> Option<&str> {
        match self {
            Answer::Code { state, .. } | Answer::Error { state, .. } => state.as_deref(),
        }
    }
}

/// A browser connection that delivered an answer and waits for the page to show.
pub(crate) struct Browser {
    stream: TcpStream,
}

impl Browser {
    /// Shows the user a short page (the terminal has the details) and closes.
    pub(crate) async fn respond(mut self, ok: bool, message: &str) {
        let (status, title) = if ok {
            ("200 OK", "gphotosd is connected")
        } else {
            ("400 Bad Request", "gphotosd could not connect")
        };
        respond(&mut self.stream, status, title, message).await;
    }
}

/// The listener on `127.0.0.1` that receives the browser's redirect.
pub(crate) struct Loopback {
    listener: TcpListener,
    port: u16,
}

impl Loopback {
    /// Listens on `127.0.0.1:port` (0: any free port).
    pub(crate) async fn bind(port: u16) -> std::io::Result<Loopback> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        Ok(Loopback { listener, port })
    }

    /// The `redirect_uri` Google sends the browser to.
    pub(crate) fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Accepts browser connections until the receiver is dropped; every request that
    /// carries an answer is passed on with its connection, the rest get a 404.
    pub(crate) async fn serve(self, answers: mpsc::Sender<(Answer, Browser)>) {
        loop {
            let stream = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Typically out of file descriptors; give the system a moment.
                        tracing::debug!("loopback accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = answers.closed() => return,
            };
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut stream = stream;
                let target = tokio::time::timeout(REQUEST_TIMEOUT, read_target(&mut stream))
                    .await
                    .ok()
                    .flatten();
                let answer = target
                    .as_deref()
                    .and_then(|t| t.split_once('?'))
                    .and_then(|(_, q)| Answer::from_query(q));
                match answer {
                    Some(answer) => {
                        tracing::debug!("the browser delivered Google's answer");
                        let _ = answers.send((answer, Browser { stream })).await;
                    }
                    None => {
                        respond(
                            &mut stream,
                            "404 Not Found",
                            "Not found",
                            "This address only receives Google's answer for gphotosd auth.",
                        )
                        .await;
                    }
                }
            });
        }
    }
}

/// Reads a request head and returns its target (`/?state=…&code=…`) if it is a GET.
async fn read_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() + n > MAX_REQUEST_HEAD {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line_end = head.iter().position(|&b| b == b'\r')?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("GET"), Some(target), Some(version)) if version.starts_with("HTTP/1.") => {
            Some(target.to_owned())
        }
        _ => None,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, title: &str, message: &str) {
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1><p>{}</p></body></html>\n",
        html_escape(message)
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // The browser may already be gone; the terminal has the outcome either way.
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_with_a_code_is_an_answer() {
        let a = Answer::from_query("state=abc&code=4%2F0Axyz&scope=a%20b").unwrap();
        assert_eq!(
            a,
            Answer::Code {
                code: "4/0Axyz".into(),
                state: Some("abc".into()),
                scope: Some("a b".into()),
            }
        );
        assert!(!format!("{a:?}").contains("0Axyz"), "Debug hides the code");
    }

    #[test]
    fn an_error_wins_over_a_code() {
        let a = Answer::from_query("error=access_denied&state=s").unwrap();
        assert!(matches!(a, Answer::Error { ref error, .. } if error == "access_denied"));
        assert_eq!(a.state(), Some("s"));
    }

    #[test]
    fn requests_without_an_answer_are_not_answers() {
        assert_eq!(Answer::from_query(""), None);
        assert_eq!(Answer::from_query("state=s"), None);
        assert_eq!(Answer::from_query("code=&state=s"), None);
    }

    #[test]
    fn pasted_urls_are_read_as_the_address_bar_shows_them() {
        let want = Some(Answer::Code {
            code: "c".into(),
            state: Some("s".into()),
            scope: None,
        });
        for line in [
            "http://127.0.0.1:8085/?state=s&code=c",
            "  'http://localhost:1/?state=s&code=c'  ",
            "127.0.0.1:8085/?state=s&code=c#",
            "state=s&code=c",
            "<http://127.0.0.1:9/?state=s&code=c>",
        ] {
            assert_eq!(Answer::from_pasted(line), want, "{line}");
        }
        assert_eq!(Answer::from_pasted("yes"), None);
        assert_eq!(Answer::from_pasted(""), None);
    }

    #[test]
    fn pages_escape_what_they_show() {
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[tokio::test]
    async fn the_listener_passes_on_answers_and_turns_away_the_rest() {
        let loopback = Loopback::bind(0).await.unwrap();
        let uri = loopback.redirect_uri();
        let addr = uri
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let (tx, mut rx) = mpsc::channel(1);
        tokio::spawn(loopback.serve(tx));

        let mut other = TcpStream::connect(&addr).await.unwrap();
        other
            .write_all(b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        other.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");

        let mut browser = TcpStream::connect(&addr).await.unwrap();
        browser
            .write_all(b"GET /?state=s&code=c HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (answer, conn) = rx.recv().await.unwrap();
        assert_eq!(answer.state(), Some("s"));
        conn.respond(true, "done <now>").await;
        let mut reply = String::new();
        browser.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains("done &lt;now&gt;"), "{reply}");
    }
}
