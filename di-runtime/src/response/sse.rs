//! [`SseEvent`]: one server-sent event (`text/event-stream`), framed as the HTML standard
//! reads it, for a [`StreamBody`](crate::StreamBody).

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;

/// One server-sent event, written as its `text/event-stream` lines: each item of a
/// [`StreamBody`](crate::StreamBody) (`Stream<Item = Result<SseEvent, E>>`), with
/// `.content_type("text/event-stream")`.
///
/// Its data may hold line breaks: each line is sent as a `data:` line of its own, which the
/// client joins back with `\n`, so no data can end the event early or start another
/// (`"a\n\nevent: admin"` stays data). An `id` or `event` that holds a line break (or an `id`
/// that holds NUL, which clients ignore) could not be sent as one field: it is left out, and
/// logged. [`SseEvent::comment`] makes a comment line, which clients ignore: the keep-alive
/// that stops proxies from closing a feed that is quiet.
///
/// The client sends the last `id` it got back in `Last-Event-ID` when it reconnects
/// (`Header<T>` with a field `last_event_id` reads it).
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::SseEvent;
/// use futures_util::stream;
/// use std::time::Duration;
///
/// #[depends]
/// async fn feed() -> StreamBody<impl futures_util::Stream<Item = Result<SseEvent, std::io::Error>> + Send> {
///     let events = [
///         SseEvent::data("first line\nsecond line").id("1").event("note"),
///         SseEvent::comment("keep-alive"),
///         SseEvent::data("{\"n\":2}").id("2").retry(Duration::from_secs(5)),
///     ];
///     StreamBody::new(stream::iter(events.map(Ok))).content_type("text/event-stream")
/// }
///
/// let event = SseEvent::data("first line\nsecond line").id("1").event("note");
/// assert_eq!(event.to_string(), "id: 1\nevent: note\ndata: first line\ndata: second line\n\n");
/// assert_eq!(SseEvent::comment("keep-alive").to_string(), ": keep-alive\n\n");
/// # let _ = App::new().get("/feed", feed);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    id: Option<String>,
    event: Option<String>,
    retry: Option<Duration>,
    /// The data, or the comment of a comment.
    text: String,
    comment: bool,
}

impl SseEvent {
    /// An event of `data` (an empty one is still an event: a single `data:` line).
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            text: data.into(),
            ..Self::default()
        }
    }

    /// A comment (`: text`), which clients ignore: a keep-alive.
    pub fn comment(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            comment: true,
            ..Self::default()
        }
    }

    /// Its `id`, which the client sends back in `Last-Event-ID` when it reconnects. One that
    /// holds a line break or NUL is left out (and logged).
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        if id.contains(['\r', '\n', '\0']) {
            tracing::warn!(target: "di", id, "left out an SSE id that holds a line break or NUL");
        } else {
            self.id = Some(id);
        }
        self
    }

    /// Its `event` type (the client's `addEventListener(type, ...)`; `message` when none).
    /// One that holds a line break is left out (and logged).
    #[must_use]
    pub fn event(mut self, event: impl Into<String>) -> Self {
        let event = event.into();
        if event.contains(['\r', '\n']) {
            tracing::warn!(target: "di", event, "left out an SSE event type that holds a line break");
        } else {
            self.event = Some(event);
        }
        self
    }

    /// How long the client waits before it reconnects (`retry:`, in milliseconds).
    #[must_use]
    pub fn retry(mut self, wait: Duration) -> Self {
        self.retry = Some(wait);
        self
    }
}

/// Each line of `text`, split at `\r\n`, `\r` or `\n` as clients split them (a text that
/// ends with a line break ends with an empty line: the client's data ends with `\n`).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(text)
            }
            Some(at) => {
                let next = if text[at..].starts_with("\r\n") {
                    at + 2
                } else {
                    at + 1
                };
                rest = Some(&text[next..]);
                Some(&text[..at])
            }
        }
    })
}

impl std::fmt::Display for SseEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(id) = &self.id {
            writeln!(f, "id: {id}")?;
        }
        if let Some(event) = &self.event {
            writeln!(f, "event: {event}")?;
        }
        if let Some(retry) = self.retry {
            writeln!(f, "retry: {}", retry.as_millis())?;
        }
        let field = if self.comment { ":" } else { "data:" };
        for line in lines(&self.text) {
            if line.is_empty() {
                writeln!(f, "{field}")?;
            } else {
                writeln!(f, "{field} {line}")?;
            }
        }
        f.write_char('\n')
    }
}

impl From<SseEvent> for Bytes {
    fn from(event: SseEvent) -> Self {
        Bytes::from(event.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_sent_line_by_line_whatever_its_line_breaks() {
        assert_eq!(
            SseEvent::data("a\r\nb\rc\nd").to_string(),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(SseEvent::data("a\n").to_string(), "data: a\ndata:\n\n");
        assert_eq!(SseEvent::data("").to_string(), "data:\n\n");
        assert_eq!(
            SseEvent::data("x\n\nevent: admin\ndata: forged").to_string(),
            "data: x\ndata:\ndata: event: admin\ndata: data: forged\n\n",
            "data cannot end the event or start another"
        );
    }

    #[test]
    fn fields_come_before_the_data_and_broken_ones_are_left_out() {
        let event = SseEvent::data("d")
            .id("7")
            .event("tick")
            .retry(Duration::from_millis(1500));
        assert_eq!(
            event.to_string(),
            "id: 7\nevent: tick\nretry: 1500\ndata: d\n\n"
        );
        let broken = SseEvent::data("d").id("1\nevent: admin").event("a\rb");
        assert_eq!(broken.to_string(), "data: d\n\n");
        assert_eq!(SseEvent::data("d").id("a\0b").to_string(), "data: d\n\n");
        assert_eq!(
            SseEvent::comment("ping\nevent: x").to_string(),
            ": ping\n: event: x\n\n"
        );
        assert_eq!(Bytes::from(SseEvent::comment("")), Bytes::from(":\n\n"));
    }
}
