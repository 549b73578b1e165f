//! A link for unit tests: what the far end says back to each write is a function of
//! the bytes written, as a scripted instrument would say it. Reads are served from
//! what it has said, and time out (or would block) when it has said nothing.

use std::io::{self, Read, Write};
use std::time::Duration;

use super::Transport;

/// The far end's answer to one write.
type Answer = Box<dyn FnMut(&[u8]) -> Vec<u8> + Send>;

/// A scripted far end.
pub struct Scripted {
    answer: Answer,
    out: Vec<u8>,
}

impl Scripted {
    /// Answers each write with `answer(bytes written)`.
    pub fn new(answer: impl FnMut(&[u8]) -> Vec<u8> + Send + 'static) -> Self {
        Self {
            answer: Box::new(answer),
            out: Vec::new(),
        }
    }

    /// Answers the first write with `said`, and says nothing more.
    pub fn once(said: Vec<u8>) -> Self {
        let mut said = Some(said);
        Self::new(move |_| said.take().unwrap_or_default())
    }
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out.is_empty() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "nothing"));
        }
        let n = buf.len().min(self.out.len());
        buf[..n].copy_from_slice(&self.out[..n]);
        self.out.drain(..n);
        Ok(n)
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let said = (self.answer)(buf);
        self.out.extend(said);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Scripted {
    fn set_timeout(&mut self, _: Duration) -> io::Result<()> {
        Ok(())
    }
    fn discard_input(&mut self) -> io::Result<()> {
        self.out.clear();
        Ok(())
    }
    fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "nothing yet"));
        }
        self.read(buf)
    }
}
