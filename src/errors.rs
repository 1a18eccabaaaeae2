//! One error style for every face: `error: <file>: <what is wrong> (<what to do>)`, on one
//! line of printable characters, whatever the error carries.
//!
//! The CLI prints [`error_line_of`] once per failure; the GUI's error banner shows [`clean`]
//! of its message (the same text without the `error: ` prefix). Both go through [`clean`]:
//! - repeated parts are removed: an error chain whose cause repeats what the error already
//!   says ([`chain_text`]), and consecutive `: `-separated parts that repeat the part before
//!   (`F: F: bad` → `F: bad`, `reading F: F: bad` → `reading F: bad`);
//! - control characters (line breaks, tabs, NUL, escape sequences) are written as escapes
//!   (`\n`, `\0`, `\u{1b}`), so no file content can break the line or the terminal;
//! - the line is cut to [`MAX_LINE_CHARS`] characters with `…` in the middle, keeping a final
//!   `(what to do)` part whole.
//!
//! Messages quote user input through [`quote`], which cuts it to [`MAX_QUOTE_CHARS`].

use std::path::Path;

/// Longest error line, in characters, `error: ` included.
pub const MAX_LINE_CHARS: usize = 400;

/// Longest quoted piece of user input (a token, a line of a file) in a message, in characters.
pub const MAX_QUOTE_CHARS: usize = 100;

/// Longest final `(what to do)` part kept whole when a line is cut.
const MAX_ADVICE_CHARS: usize = 160;

/// The one-line message for an error: `error: ` and [`clean`] of the text.
pub fn error_line(message: &str) -> String {
    format!("error: {}", clean(message))
}

/// [`error_line`] of an error and its causes ([`chain_text`]).
pub fn error_line_of(err: &anyhow::Error) -> String {
    error_line(&chain_text(err))
}

/// [`error_line`] for an error about `file`: the file is put in front unless the message
/// already names it.
pub fn error_line_for(file: &Path, err: &anyhow::Error) -> String {
    let text = chain_text(err);
    let name = file.display().to_string();
    if text.contains(&name) {
        error_line(&text)
    } else {
        error_line(&format!("{name}: {text}"))
    }
}

/// An error and its causes joined by `: `, leaving out a cause whose text the part before
/// already contains (a file error that prints its OS error, followed by that OS error).
pub fn chain_text(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if parts.last().is_some_and(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

/// A message made fit for one line: repeated parts removed, control characters escaped, cut
/// to [`MAX_LINE_CHARS`] (counting the `error: ` prefix) with the final `(what to do)` kept.
pub fn clean(message: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in message.split(": ") {
        if let Some(last) = parts.last()
            && !part.is_empty()
            && (*last == part || last.ends_with(&format!(" {part}")))
        {
            continue;
        }
        parts.push(part);
    }
    let text = escape_controls(&parts.join(": "));
    cut(&text, MAX_LINE_CHARS - "error: ".len())
}

/// User input for a message: control characters escaped and cut to [`MAX_QUOTE_CHARS`]
/// characters with `…`.
pub fn quote(input: &str) -> String {
    let head: String = input.chars().take(MAX_QUOTE_CHARS + 1).collect();
    let escaped = escape_controls(&head);
    if head.chars().count() > MAX_QUOTE_CHARS || escaped.chars().count() > MAX_QUOTE_CHARS {
        let kept: String = escaped.chars().take(MAX_QUOTE_CHARS - 1).collect();
        format!("{kept}…")
    } else {
        escaped
    }
}

/// Control characters written as escapes (`\0`, `\n`, `\t`, `\u{1b}`, …).
fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to at most `max` characters: its start, `…`, and a final `(…)` part when it
/// has a short one.
fn cut(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    let advice = text
        .rfind(" (")
        .filter(|_| text.ends_with(')'))
        .map(|i| &text[i..])
        .filter(|a| a.chars().count() <= MAX_ADVICE_CHARS)
        .unwrap_or("");
    let keep = max - 1 - advice.chars().count();
    let head: String = text.chars().take(keep).collect();
    format!("{head}…{advice}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_removed() {
        assert_eq!(clean("a.mrc: a.mrc: bad"), "a.mrc: bad");
        assert_eq!(
            clean("reading the raw image a.mrc: a.mrc: bad"),
            "reading the raw image a.mrc: bad"
        );
        assert_eq!(clean("x: has NaN: has NaN"), "x: has NaN");
        assert_eq!(clean("line 3: 3 values"), "line 3: 3 values");
    }

    #[test]
    fn chains_skip_causes_already_said() {
        let os = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = anyhow::Error::new(os).context("f.mrc: No such file");
        assert_eq!(chain_text(&e), "f.mrc: No such file");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(chain_text(&e), "outer: inner");
    }

    #[test]
    fn controls_are_escaped_and_long_lines_cut() {
        assert_eq!(error_line("a\0b\nc\u{1b}"), "error: a\\0b\\nc\\u{1b}");
        let long = format!("f: `{}` is bad (do this)", "x".repeat(10_000));
        let line = error_line(&long);
        assert_eq!(line.chars().count(), MAX_LINE_CHARS);
        assert!(
            line.ends_with("…` is bad (do this)") || line.ends_with("… (do this)"),
            "{line}"
        );
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote(&"y".repeat(500)).chars().count(), MAX_QUOTE_CHARS);
    }

    #[test]
    fn file_is_named_once() {
        let e = anyhow::anyhow!("a.mrc: truncated");
        assert_eq!(
            error_line_for(Path::new("a.mrc"), &e),
            "error: a.mrc: truncated"
        );
        let e = anyhow::anyhow!("truncated");
        assert_eq!(
            error_line_for(Path::new("a.mrc"), &e),
            "error: a.mrc: truncated"
        );
    }
}
