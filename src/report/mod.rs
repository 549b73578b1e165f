//! Reporters: each folds runner events into one output, written as the run goes so an
//! interrupted run still leaves valid files.

pub mod evidence;
pub mod html;
pub mod jsonl;
pub mod junit;
pub mod manifest;
pub mod merge;
pub mod resume;
pub mod stats;
pub mod stdout;

/// Removes characters XML 1.0 cannot carry and ANSI escape sequences (console logs
/// contain both), keeping tabs and newlines.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte (0x40..=0x7E); other escapes: one more char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for f in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&f) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
            continue;
        }
        let allowed = matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || ('\u{10000}'..='\u{10FFFF}').contains(&c);
        if allowed && !('\u{7f}'..='\u{9f}').contains(&c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn strips_ansi_and_control_characters() {
        assert_eq!(sanitize("\u{1b}[31mred\u{1b}[0m ok"), "red ok");
        assert_eq!(sanitize("a\u{0}b\u{7}c\td\n"), "abc\td\n");
        assert_eq!(sanitize("µA ok"), "µA ok");
    }
}
