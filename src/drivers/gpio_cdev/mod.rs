//! GPIO lines of a Linux GPIO character device (`/dev/gpiochipN`, kernel uAPI v2,
//! through gpiocdev): a Raspberry Pi's header, an FT232H's or MCP2221's GPIO, any board
//! with a kernel GPIO driver.
//!
//! - **Inputs** (door-position and latch switches): requested with edge detection on
//!   both edges. The kernel stamps each edge when its interrupt fires and queues it
//!   (16 events per line), so a change shorter than lockrig's poll interval is still
//!   seen: an unlatch of 1 ms is an edge pair 1 ms apart, whenever lockrig reads them.
//!   Events carry a sequence number; a gap means the queue overflowed and edges were
//!   lost, which a check is told (it cannot then claim the line never changed).
//! - **Outputs** (relay drivers, a MOSFET for a fast dip): requested driven low, the
//!   safe level; every write is read back.
//!
//! The edges' timestamps are on the chip's clock (CLOCK_MONOTONIC on a real chip, the
//! virtual clock on the simulated one). They are handed on as ages before "now" on
//! that clock, so the bench can place them on its own clock without assuming the two
//! are the same.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::drivers::{on_off, InstrumentError, Result};
use crate::transport::gpio::{GpioLines, LineEdge};

/// Edges kept per line between two reads of that line; more are counted as lost.
pub const MAX_PENDING: usize = 4096;

/// An edge, as an age before the moment it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// The line went high.
    pub high: bool,
    /// How long before the read it happened.
    pub ago: Duration,
}

/// A line's edges since the last read of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edges {
    /// Oldest first.
    pub edges: Vec<Edge>,
    /// Edges the kernel (or this driver's queue) dropped since the last read: while
    /// this is not zero, nothing can be said about what the line did.
    pub lost: u64,
}

#[derive(Default)]
struct Pending {
    edges: Vec<LineEdge>,
    lost: u64,
}

/// A request for lines of one chip.
pub struct Gpio {
    lines: Box<dyn GpioLines>,
    pending: BTreeMap<u32, Pending>,
    next_seqno: Option<u32>,
}

impl Gpio {
    /// Wraps a line request (inputs with edge detection, outputs driven low).
    pub fn open(lines: Box<dyn GpioLines>) -> Self {
        Self {
            lines,
            pending: BTreeMap::new(),
            next_seqno: None,
        }
    }

    /// The chip.
    pub fn identity(&self) -> String {
        self.lines.describe()
    }

    /// The level of a line.
    pub fn read(&mut self, offset: u32) -> Result<bool> {
        self.lines
            .get(offset)
            .map_err(|e| gpio_error(offset, "read", e))
    }

    /// Drives an output line and reads it back.
    pub fn set(&mut self, offset: u32, high: bool) -> Result<()> {
        self.lines
            .set(offset, high)
            .map_err(|e| gpio_error(offset, "set", e))?;
        let actual = self.read(offset)?;
        if actual != high {
            return Err(InstrumentError::Readback {
                commanded: format!("GPIO line {offset} {}", on_off(high)),
                actual: format!("GPIO line {offset} {}", on_off(actual)),
            });
        }
        Ok(())
    }

    /// The edges of line `offset` since its last read, as ages before now.
    pub fn edges(&mut self, offset: u32) -> Result<Edges> {
        self.drain()?;
        let now = self.lines.now();
        let p = self.pending.entry(offset).or_default();
        Ok(Edges {
            edges: p
                .edges
                .drain(..)
                .map(|e| Edge {
                    high: e.rising,
                    ago: now.saturating_sub(e.at),
                })
                .collect(),
            lost: std::mem::take(&mut p.lost),
        })
    }

    /// Moves what the kernel queued into the per-line queues, counting gaps.
    fn drain(&mut self) -> Result<()> {
        let edges = self
            .lines
            .edges()
            .map_err(|e| gpio_error(0, "read edge events of", e))?;
        for e in edges {
            let gap = self
                .next_seqno
                .map_or(0, |want| u64::from(e.seqno.wrapping_sub(want)));
            self.next_seqno = Some(e.seqno.wrapping_add(1));
            if gap > 0 {
                // Which lines the lost events were on is not known: every line is told.
                for p in self.pending.values_mut() {
                    p.lost += gap;
                }
            }
            let p = self.pending.entry(e.offset).or_default();
            if p.edges.len() >= MAX_PENDING {
                p.lost += 1;
            } else {
                p.edges.push(e);
            }
        }
        Ok(())
    }
}

fn gpio_error(offset: u32, what: &str, source: std::io::Error) -> InstrumentError {
    InstrumentError::Io {
        command: format!("{what} GPIO line {offset}"),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// A chip whose edges are scripted.
    struct Script {
        edges: Vec<LineEdge>,
        now: Duration,
    }

    impl GpioLines for Script {
        fn get(&mut self, _: u32) -> io::Result<bool> {
            Ok(false)
        }
        fn set(&mut self, _: u32, _: bool) -> io::Result<()> {
            Ok(())
        }
        fn edges(&mut self) -> io::Result<Vec<LineEdge>> {
            Ok(std::mem::take(&mut self.edges))
        }
        fn now(&self) -> Duration {
            self.now
        }
        fn describe(&self) -> String {
            "script".into()
        }
    }

    fn edge(offset: u32, rising: bool, ms: u64, seqno: u32) -> LineEdge {
        LineEdge {
            offset,
            rising,
            at: Duration::from_millis(ms),
            seqno,
        }
    }

    #[test]
    fn edges_are_sorted_by_line_aged_and_gaps_are_lost_edges() {
        let script = Script {
            edges: vec![
                edge(1, true, 100, 1),
                edge(0, true, 101, 2),
                edge(1, false, 101, 3),
                edge(1, true, 150, 6),
            ],
            now: Duration::from_millis(200),
        };
        let mut gpio = Gpio::open(Box::new(script));
        let latch = gpio.edges(1).unwrap();
        assert_eq!(
            latch.edges,
            [
                Edge {
                    high: true,
                    ago: Duration::from_millis(100)
                },
                Edge {
                    high: false,
                    ago: Duration::from_millis(99)
                },
                Edge {
                    high: true,
                    ago: Duration::from_millis(50)
                }
            ]
        );
        assert_eq!(latch.lost, 2, "seqno 4 and 5 never came");
        let door = gpio.edges(0).unwrap();
        assert_eq!(door.edges.len(), 1);
        assert_eq!(door.lost, 2, "they could have been on any line");
        assert_eq!(gpio.edges(0).unwrap(), Edges::default());
    }
}
