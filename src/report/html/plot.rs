//! The report's plots, drawn by plotters' SVG backend into strings that are placed
//! inline in the page. No fonts are loaded: the backend writes `<text>` elements (their
//! content escaped) and the browser draws them.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::trace::Trace;
use super::{Bucket, Mark, ShmooCell};

const GREEN: RGBColor = RGBColor(46, 125, 50);
const RED: RGBColor = RGBColor(198, 40, 40);
const AMBER: RGBColor = RGBColor(239, 160, 40);
const GREY: RGBColor = RGBColor(189, 189, 189);
const INK: RGBColor = RGBColor(40, 40, 40);
const BLUE: RGBColor = RGBColor(25, 90, 170);

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Renders with `draw` into an SVG string; a drawing error becomes a note.
fn svg(size: (u32, u32), draw: impl FnOnce(&mut String) -> Drawn) -> String {
    let mut out = String::new();
    match draw(&mut out) {
        Ok(()) => {
            // Inline in HTML: no XML declaration.
            match out.find("<svg") {
                Some(i) => out[i..].to_string(),
                None => out,
            }
        }
        Err(e) => format!(
            "<p class=\"note\">plot not drawn ({}x{}): {}</p>",
            size.0,
            size.1,
            super::Esc(&e.to_string())
        ),
    }
}

/// The pass rate over a soak, one point per bucket of cycles.
pub fn soak(buckets: &[Bucket]) -> String {
    let size = (640, 220);
    svg(size, |out| {
        let root = SVGBackend::with_string(out, size).into_drawing_area();
        root.fill(&WHITE)?;
        let first = buckets.first().map_or(1, |b| b.first) as f64;
        let last = buckets.last().map_or(1, |b| b.last) as f64;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(46)
            .build_cartesian_2d(first..last.max(first + 1.0), 0f64..100f64)?;
        chart
            .configure_mesh()
            .x_desc("cycle")
            .y_desc("pass rate %")
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let points: Vec<(f64, f64)> = buckets
            .iter()
            .filter(|b| b.decided > 0)
            .map(|b| {
                (
                    (b.first + b.last) as f64 / 2.0,
                    100.0 * b.passed as f64 / b.decided as f64,
                )
            })
            .collect();
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            BLUE.stroke_width(2),
        ))?;
        chart.draw_series(points.iter().map(|p| {
            let colour = if p.1 >= 100.0 { GREEN } else { RED };
            Circle::new(*p, 3, colour.filled())
        }))?;
        root.present()?;
        Ok(())
    })
}

/// A depth x duration shmoo grid: one cell per sag, coloured by what it did.
pub fn shmoo(depths: &[f64], durations: &[f64], cells: &[ShmooCell]) -> String {
    let (nx, ny) = (durations.len().max(1) as i32, depths.len().max(1) as i32);
    let size = (
        (170 + 100 * nx as u32).clamp(360, 1000),
        (90 + 40 * ny as u32).clamp(200, 700),
    );
    svg(size, |out| {
        let root = SVGBackend::with_string(out, size).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(84)
            .build_cartesian_2d((0..nx - 1).into_segmented(), (0..ny - 1).into_segmented())?;
        let label = |values: &[f64], v: &SegmentValue<i32>, unit: &str| match v {
            SegmentValue::CenterOf(i) => values
                .get(*i as usize)
                .map_or(String::new(), |x| format!("{}{unit}", super::figure(*x))),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(durations.len() + 1)
            .y_labels(depths.len() + 1)
            .x_label_formatter(&|v| label(durations, v, " ms"))
            .y_label_formatter(&|v| label(depths, v, " V"))
            .x_desc("sag duration")
            .y_desc("sag depth")
            .draw()?;
        chart.draw_series(cells.iter().map(|c| {
            let colour = match (c.unsafe_, c.reached, c.reset) {
                (true, _, _) => RED,
                (false, Some(false), _) => GREY,
                (false, _, None) if c.intermittent.is_some() => BLUE,
                (false, _, Some(true)) => AMBER,
                (false, _, Some(false)) => GREEN,
                (false, _, None) => WHITE,
            };
            let (x, y) = (c.x as i32, c.y as i32);
            Rectangle::new(
                [
                    (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                ],
                colour.filled(),
            )
        }))?;
        chart.draw_series(cells.iter().map(|c| {
            let (x, y) = (c.x as i32, c.y as i32);
            Rectangle::new(
                [
                    (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                ],
                WHITE.stroke_width(2),
            )
        }))?;
        // How many of a boundary cell's sags reset the board.
        chart.draw_series(cells.iter().filter_map(|c| {
            let (k, n) = c.intermittent?;
            Some(Text::new(
                format!("{k}/{n}"),
                (
                    SegmentValue::CenterOf(c.x as i32),
                    SegmentValue::CenterOf(c.y as i32),
                ),
                ("sans-serif", 12).into_font().color(&WHITE),
            ))
        }))?;
        root.present()?;
        Ok(())
    })
}

/// A failed trial's timeline: a lane per role with its measurements (green within
/// limits, red not, blue a positive control), and a line per event (stimulus steps and
/// the board's event lines) labelled with its step or event.
pub fn timeline(roles: &[String], marks: &[Mark], events: &[(f64, String)]) -> String {
    let lanes = roles.len().max(1) as i32;
    let size = (820, (110 + 30 * lanes as u32).min(600));
    let end = marks
        .iter()
        .map(|m| m.at_s)
        .chain(events.iter().map(|e| e.0))
        .fold(0.0f64, f64::max)
        .max(0.001)
        * 1.04;
    svg(size, |out| {
        let root = SVGBackend::with_string(out, size).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .margin_top(26)
            .x_label_area_size(32)
            .y_label_area_size(120)
            .build_cartesian_2d(0f64..end, (0..lanes - 1).into_segmented())?;
        chart
            .configure_mesh()
            .y_labels(roles.len() + 1)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => roles.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc("scenario time (s)")
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart.draw_series(events.iter().map(|(t, _)| {
            PathElement::new(
                vec![
                    (*t, SegmentValue::Exact(0)),
                    (*t, SegmentValue::Exact(lanes)),
                ],
                GREY.stroke_width(1),
            )
        }))?;
        // Labels above the plot, skipping any that would overlap the previous one.
        let min_gap = end / 40.0;
        let mut last = f64::NEG_INFINITY;
        for (t, label) in events {
            if *t - last < min_gap {
                continue;
            }
            last = *t;
            chart.draw_series(std::iter::once(Text::new(
                label.clone(),
                (*t, SegmentValue::Exact(lanes)),
                ("sans-serif", 10).into_font().color(&INK),
            )))?;
        }
        chart.draw_series(marks.iter().map(|m| {
            let colour = match (m.control, m.pass) {
                (_, false) => RED,
                (true, true) => BLUE,
                (false, true) => GREEN,
            };
            let size = if m.pass { 4 } else { 6 };
            Circle::new(
                (m.at_s, SegmentValue::CenterOf(m.lane as i32)),
                size,
                colour.filled(),
            )
        }))?;
        root.present()?;
        Ok(())
    })
}

/// A failed trial's trace: the meter's voltage (blue, left axis) and current (amber,
/// right axis, mA) over the trial with its commands and board events marked, and below
/// it each input's state as a step line.
pub fn trace(t: &Trace) -> String {
    let lanes = t.inputs.len();
    let size = (820, 250 + 46 * lanes as u32);
    let end = t.end.max(0.001) * 1.02;
    let vmax = t.volts.iter().map(|p| p.1).fold(0.0f64, f64::max).max(0.1) * 1.12;
    let amax = t
        .milliamps
        .iter()
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(0.1)
        * 1.12;
    svg(size, |out| {
        let root = SVGBackend::with_string(out, size).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, bottom) = root.split_vertically(250);
        let mut chart = ChartBuilder::on(&top)
            .margin(14)
            .margin_top(26)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .right_y_label_area_size(56)
            .build_cartesian_2d(0f64..end, 0f64..vmax)?
            .set_secondary_coord(0f64..end, 0f64..amax);
        chart
            .configure_mesh()
            .x_desc("time from the trial's start (s)")
            .y_desc("meter V")
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart.configure_secondary_axes().y_desc("meter mA").draw()?;
        chart.draw_series(t.events.iter().map(|(at, _)| {
            PathElement::new(vec![(*at, 0.0), (*at, vmax)], GREY.stroke_width(1))
        }))?;
        // Labels on three rows at the top, the board's events first, then supply
        // settings, then the rest, each where it overlaps no label already placed.
        let min_gap = end / 14.0;
        let rank = |label: &str| {
            if !label.contains(' ') || label.starts_with(char::is_uppercase) {
                0
            } else if label.contains(" set ") {
                1
            } else {
                2
            }
        };
        let mut order: Vec<&(f64, String)> = t.events.iter().collect();
        order.sort_by_key(|(_, label)| rank(label));
        let mut placed: [Vec<f64>; 3] = Default::default();
        for (at, label) in order {
            let Some(row) = (0..3).find(|&r| placed[r].iter().all(|x| (x - at).abs() >= min_gap))
            else {
                continue;
            };
            placed[row].push(*at);
            let label: String = label.chars().take(18).collect();
            chart.draw_series(std::iter::once(Text::new(
                label,
                (*at, vmax * (1.0 - 0.07 * row as f64)),
                ("sans-serif", 9).into_font().color(&INK),
            )))?;
        }
        chart.draw_series(LineSeries::new(
            t.volts.iter().copied(),
            BLUE.stroke_width(1),
        ))?;
        chart.draw_secondary_series(LineSeries::new(
            t.milliamps.iter().copied(),
            AMBER.stroke_width(1),
        ))?;
        if lanes > 0 {
            let mut lanes_chart = ChartBuilder::on(&bottom)
                .margin(14)
                .margin_top(4)
                .y_label_area_size(56)
                .right_y_label_area_size(56)
                .build_cartesian_2d(0f64..end, 0f64..lanes as f64)?;
            for (i, lane) in t.inputs.iter().enumerate() {
                let y = |level: u8| i as f64 + 0.2 + 0.55 * f64::from(level);
                let mut path = Vec::with_capacity(lane.changes.len() * 2 + 1);
                for (at, level) in &lane.changes {
                    if let Some(&(_, prev)) = path.last() {
                        path.push((*at, prev));
                    }
                    path.push((*at, y(*level)));
                }
                if let Some(&(_, level)) = path.last() {
                    path.push((lane.last, level));
                }
                lanes_chart
                    .draw_series(std::iter::once(PathElement::new(path, INK.stroke_width(2))))?;
                let name = format!(
                    "{}: upper line {}, lower line {}",
                    lane.role,
                    if lane.states[1].is_empty() {
                        "-"
                    } else {
                        &lane.states[1]
                    },
                    lane.states[0]
                );
                let name: String = name.chars().take(60).collect();
                lanes_chart.draw_series(std::iter::once(Text::new(
                    name,
                    (0.0, i as f64 + 0.95),
                    ("sans-serif", 10).into_font().color(&INK),
                )))?;
            }
        }
        root.present()?;
        Ok(())
    })
}
