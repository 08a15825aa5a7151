//! A structural check of Go templates as Prometheus uses them in labels and annotations: every
//! `{{` action is closed by `}}` before the next one opens. Quoted strings, raw strings, runes
//! and comments inside an action may contain braces. A `}}` outside an action is plain text in
//! Go's `text/template`, so it is accepted. Rendering (and full syntax checking) comes later.

/// `Ok` when the actions are balanced; otherwise a message naming the byte offset.
pub(crate) fn check_template(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    while let Some(open) = find(bytes, pos, b"{{") {
        let start = open;
        pos = open + 2;
        // A comment action: {{/* … */}} (with optional trim markers).
        let body = skip_trim(bytes, pos);
        if bytes[body..].starts_with(b"/*") {
            let Some(end) = find(bytes, body + 2, b"*/") else {
                return Err(format!("unclosed comment opened at offset {start}"));
            };
            pos = end + 2;
        }
        loop {
            match bytes.get(pos) {
                None => {
                    return Err(format!(
                        "unclosed action: '{{{{' at offset {start} has no matching '}}}}'"
                    ));
                }
                Some(b'}') if bytes.get(pos + 1) == Some(&b'}') => {
                    pos += 2;
                    break;
                }
                Some(b'{') if bytes.get(pos + 1) == Some(&b'{') => {
                    return Err(format!(
                        "'{{{{' at offset {pos} opens an action inside the action opened at offset {start}"
                    ));
                }
                Some(&quote @ (b'"' | b'\'' | b'`')) => {
                    pos = skip_quoted(bytes, pos + 1, quote).ok_or_else(|| {
                        format!("unterminated quoted string in the action opened at offset {start}")
                    })?;
                }
                Some(_) => pos += 1,
            }
        }
    }
    Ok(())
}

fn skip_trim(bytes: &[u8], pos: usize) -> usize {
    if bytes[pos..].starts_with(b"- ") {
        pos + 2
    } else {
        pos
    }
}

/// Returns the position after the closing quote.
fn skip_quoted(bytes: &[u8], mut pos: usize, quote: u8) -> Option<usize> {
    while let Some(&b) = bytes.get(pos) {
        if b == b'\\' && quote != b'`' {
            pos += 2;
        } else if b == quote {
            return Some(pos + 1);
        } else {
            pos += 1;
        }
    }
    None
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::check_template;

    #[test]
    fn accepts_prometheus_templates() {
        for text in [
            "plain text",
            "{{ $labels.instance }} is down",
            "{{ $value | humanize }}%",
            "{{- printf \"%.2f}}\" $value -}}",
            "{{/* a {{ comment */}} done",
            "{{ with query \"up\" }}{{ . | first | value }}{{ end }}",
            "stray }} is text",
            "",
        ] {
            assert_eq!(check_template(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn refuses_unbalanced_templates() {
        for text in [
            "{{ $labels.instance is down",
            "{{ {{ $value }}",
            "{{ \"unterminated }}",
            "{{/* never closed",
        ] {
            assert!(check_template(text).is_err(), "{text:?}");
        }
    }
}
