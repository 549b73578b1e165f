//! GPIO lines, as the Linux GPIO character device (`/dev/gpiochipN`, uAPI v2) gives them
//! to a program: a request holds some lines of one chip as inputs (with edge detection
//! on both edges, each event stamped by the kernel when the interrupt fired) and some as
//! outputs. [`GpioLines`] is that request; the real one is [`CdevLines`] (gpiocdev),
//! and the simulator has its own chip below this line.

use std::io;
use std::time::Duration;

/// One edge on an input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineEdge {
    /// The line's offset on its chip.
    pub offset: u32,
    /// Low to high.
    pub rising: bool,
    /// When it happened, on the chip's clock ([`GpioLines::now`]).
    pub at: Duration,
    /// The kernel's sequence number of the event among the request's events: a gap
    /// means events were lost (the kernel's buffer overflowed).
    pub seqno: u32,
}

/// A request for lines of one GPIO chip.
pub trait GpioLines: Send {
    /// The level of a requested line (true = high).
    fn get(&mut self, offset: u32) -> io::Result<bool>;
    /// Drives a requested output line.
    fn set(&mut self, offset: u32, high: bool) -> io::Result<()>;
    /// The edges on the input lines since the last call, oldest first, without waiting.
    fn edges(&mut self) -> io::Result<Vec<LineEdge>>;
    /// The clock the edges are stamped on, now.
    fn now(&self) -> Duration;
    /// The chip's name and label, for the evidence.
    fn describe(&self) -> String;
}

/// Lines of a real chip, requested through gpiocdev. Edge events are stamped on
/// CLOCK_MONOTONIC, the clock `std::time::Instant` reads on Linux.
pub struct CdevLines {
    request: gpiocdev::Request,
    chip: String,
}

/// The most edge events one [`GpioLines::edges`] call drains: a bouncing contact cannot
/// hold the caller (the rest wait for the next call; the kernel keeps 16 per line).
const MAX_EDGES_PER_CALL: usize = 4096;

impl CdevLines {
    /// Requests `inputs` (both edges detected) and `outputs` (driven low) on `chip`.
    pub fn request(
        chip: &str,
        inputs: &[u32],
        outputs: &[u32],
        consumer: &str,
    ) -> io::Result<Self> {
        let mut b = gpiocdev::Request::builder();
        b.on_chip(chip).with_consumer(consumer);
        if !inputs.is_empty() {
            b.with_lines(inputs)
                .as_input()
                .with_edge_detection(gpiocdev::line::EdgeDetection::BothEdges)
                .with_event_clock(gpiocdev::line::EventClock::Monotonic);
        }
        if !outputs.is_empty() {
            b.with_lines(outputs)
                .as_output(gpiocdev::line::Value::Inactive);
        }
        let request = b.request().map_err(io::Error::other)?;
        Ok(Self {
            request,
            chip: chip.to_string(),
        })
    }
}

impl GpioLines for CdevLines {
    fn get(&mut self, offset: u32) -> io::Result<bool> {
        let v = self.request.value(offset).map_err(io::Error::other)?;
        Ok(v == gpiocdev::line::Value::Active)
    }

    fn set(&mut self, offset: u32, high: bool) -> io::Result<()> {
        let v = if high {
            gpiocdev::line::Value::Active
        } else {
            gpiocdev::line::Value::Inactive
        };
        self.request.set_value(offset, v).map_err(io::Error::other)
    }

    fn edges(&mut self) -> io::Result<Vec<LineEdge>> {
        let mut out = Vec::new();
        while out.len() < MAX_EDGES_PER_CALL
            && self.request.has_edge_event().map_err(io::Error::other)?
        {
            let e = self.request.read_edge_event().map_err(io::Error::other)?;
            out.push(LineEdge {
                offset: e.offset,
                rising: e.kind == gpiocdev::line::EdgeKind::Rising,
                at: Duration::from_nanos(e.timestamp_ns),
                seqno: e.seqno,
            });
        }
        Ok(out)
    }

    fn now(&self) -> Duration {
        nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(Duration::from)
            .unwrap_or_default()
    }

    fn describe(&self) -> String {
        self.chip.clone()
    }
}
