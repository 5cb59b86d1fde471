//! Where the test function writes its stdout lines.

/// Where the function writes its stdout lines (its address, then its send reports): the
/// process's stdout, or a channel when it runs in the harness's own process.
#[derive(Clone)]
pub struct LineOut(Option<tokio::sync::mpsc::UnboundedSender<String>>);

impl LineOut {
    pub fn stdout() -> LineOut {
        LineOut(None)
    }

    pub fn channel(lines: tokio::sync::mpsc::UnboundedSender<String>) -> LineOut {
        LineOut(Some(lines))
    }

    /// Writes one whole line: the host reads continuously, so this never blocks for long,
    /// and a line written before a kill is still read.
    pub fn line(&self, text: &str) {
        match &self.0 {
            None => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
            Some(tx) => {
                let _ = tx.send(format!("{text}\n"));
            }
        }
    }
}

impl std::fmt::Debug for LineOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "LineOut(channel)"
        } else {
            "LineOut(stdout)"
        })
    }
}
