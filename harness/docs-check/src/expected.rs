//! Whether a block printed what the docs show: the ```` ```text ```` block is an excerpt, with
//! placeholders for what changes from run to run (ports, times, request ids).

use anyhow::{anyhow, Result};

/// Whether `output` shows every line of `expected`, in order: `...` on a line of its own skips
/// any number of lines, `<anything>` and `...` inside a line match any text.
pub fn shows(output: &str, expected: &str) -> Result<()> {
    let mut actual = output.lines();
    for wanted in expected
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
    {
        // Every line already may skip lines before it: `...` is there for the reader.
        if wanted.trim() == "..." {
            continue;
        }
        let pieces = literal_pieces(wanted);
        if !actual.any(|line| matches_pieces(line, &pieces)) {
            return Err(anyhow!("the output does not show {wanted:?} (in order)"));
        }
    }
    Ok(())
}

/// The literal parts of an expected line, between its `<placeholders>` and `...`s.
fn literal_pieces(line: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut rest = line;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("...") {
            pieces.push(String::new());
            rest = after;
        } else if let Some(close) = rest
            .strip_prefix('<')
            .and_then(|after| after.find('>').map(|end| end + 2))
        {
            pieces.push(String::new());
            rest = &rest[close..];
        } else {
            let mut characters = rest.chars();
            if let (Some(character), Some(last)) = (characters.next(), pieces.last_mut()) {
                last.push(character);
            }
            rest = characters.as_str();
        }
    }
    pieces
}

fn matches_pieces(line: &str, pieces: &[String]) -> bool {
    // Indentation is the docs' layout, not the output's.
    let line = line.trim();
    let mut position = 0;
    for (index, piece) in pieces.iter().enumerate() {
        let piece = if index == 0 { piece.trim_start() } else { piece.as_str() };
        if piece.is_empty() {
            continue;
        }
        match line[position..].find(piece) {
            // The first piece starts the line, unless a placeholder comes before it.
            Some(found) if index > 0 || found == 0 => position += found + piece.len(),
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_lines_appear_in_order_with_placeholders_and_skips() {
        let output = "Compiling x\nemulator: http://127.0.0.1:40101\nqueue A\nqueue B\nok, 12 ms\n";
        assert!(shows(output, "emulator: http://127.0.0.1:<port>\n...\nok, ... ms").is_ok());
        assert!(shows(output, "ok, 12 ms\nqueue A").is_err(), "out of order");
        assert!(shows(output, "emulator: https://<host>").is_err());
        assert!(
            shows(output, "mulator: http").is_err(),
            "a line must start where the expected one does"
        );
    }
}
