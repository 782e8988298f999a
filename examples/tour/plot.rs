//! The charts of `--plot DIR`: the measured rows drawn as SVG with plotters, each chart
//! noting the machine, the date and the command that draws it again.
//!
//! plotters is built with `svg_backend` and `line_series` only: without its `ttf` feature
//! it measures text with a rough estimate of its own and the SVG backend writes text as
//! `<text>` elements for the viewer to render, so no font library is needed.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use ipc::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::machine::Machine;
use crate::measure::{BATCH_BYTES, PINGS, PING_ROUNDS, ROUNDS};
use crate::{ratio, size, Row, SIZES, TRANSPORTS};

type Drawn = std::result::Result<(), Box<dyn StdError>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 600;
const FONT: &str = "sans-serif";
/// The width of one message size or one transport on an x axis.
const SLOT: i32 = 100;
/// The width of a bar.
const BAR: i32 = 26;
/// At most this many labels on a y axis: plotters then labels only the powers of ten of
/// a log axis that spans more than one.
const LABELS: usize = 6;

/// The transports' colours, in the order of [`TRANSPORTS`] (Tableau 10).
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Draws every chart into `dir` (created if need be); returns the files written.
/// `command` is the command line that draws them again.
pub fn charts(dir: &Path, rows: &[Row], machine: &Machine, command: &str) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        op: "create the charts' directory",
        source,
    })?;
    let mut written = Vec::new();
    if rows.is_empty() {
        return Ok(written);
    }
    let note = format!("Measured on {}. Drawn by `{command}`.", machine.describe());
    let path = dir.join("latency.svg");
    latency(&path, rows, &note).map_err(|e| failed(&path, e))?;
    written.push(path);
    for size in SIZES {
        let name = match size {
            8 => "throughput.svg".to_owned(),
            _ => format!("throughput-{size}.svg"),
        };
        let path = dir.join(name);
        throughput(&path, rows, size, &note).map_err(|e| failed(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// One-way latency against message size, a line per transport, on a log scale.
fn latency(path: &Path, rows: &[Row], note: &str) -> Drawn {
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    let method = format!(
        "Half the round trip of a ping-pong between two processes: the median of \
         {PING_ROUNDS} rounds of {PINGS} round trips."
    );
    let body = frame(&root, "One-way latency by message size", &[&method, note])?;
    let micros = |r: &Row| r.figures.latency.as_secs_f64() * 1e6;
    let (lo, hi) = span(rows.iter().map(micros));
    let mut chart = ChartBuilder::on(&body)
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            // The sizes at 0, 100, 200 (an f64 axis with chosen labels has no formatter
            // in plotters 0.3.7); room on the right for the legend.
            (-30..290).with_key_points(vec![0, 100, 200]),
            (decade_below(lo)..hi * 1.5).log_scale(),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|x: &i32| size(SIZES[(*x / SLOT).clamp(0, 2) as usize]))
        .y_label_formatter(&|y| short(*y))
        .y_labels(LABELS)
        .x_desc("message size (bytes, with the 8-byte sequence number)")
        .y_desc("one-way latency, µs (log scale)")
        .label_style((FONT, 16))
        .draw()?;
    for (&transport, &colour) in TRANSPORTS.iter().zip(&COLOURS) {
        let points: Vec<(i32, f64)> = rows
            .iter()
            .filter(|r| r.transport == transport)
            .map(|r| (position(r.size), micros(r)))
            .collect();
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(transport)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}

/// Throughput at one message size, three bars per transport: per message, batched and
/// hand-written (byte streams only), on a log scale; over each hand-written bar, the
/// ratio batched / hand-written.
fn throughput(path: &Path, rows: &[Row], size_bytes: usize, note: &str) -> Drawn {
    let rows: Vec<&Row> = rows.iter().filter(|r| r.size == size_bytes).collect();
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    let method = format!(
        "One way between two processes, every message checked by the receiver: the median \
         of {ROUNDS} rounds of about 100 ms. Over a pair: batched / hand-written."
    );
    let title = format!("Throughput, {} messages", size(size_bytes));
    let body = frame(&root, &title, &[&method, note])?;

    type Figure = fn(&Row) -> Option<f64>;
    let bars: [(String, RGBColor, Figure); 3] = [
        (
            "per message: send / recv".to_owned(),
            RGBColor(158, 202, 225),
            |r| Some(r.figures.per_message),
        ),
        (
            format!(
                "batched: send_all / recv_many of {} KiB",
                BATCH_BYTES / 1024
            ),
            RGBColor(33, 113, 181),
            |r| Some(r.figures.batched),
        ),
        (
            "hand-written: BufWriter 64 KiB + write_all / BufReader + read_exact".to_owned(),
            RGBColor(253, 141, 60),
            |r| r.figures.hand.as_ref().map(|h| h.rate),
        ),
    ];
    let (lo, hi) = span(
        rows.iter()
            .flat_map(|r| bars.iter().filter_map(|b| (b.2)(r))),
    );
    let lo = decade_below(lo);
    let groups = rows.len() as i32;
    let mut chart = ChartBuilder::on(&body)
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (-SLOT / 2..groups * SLOT - SLOT / 2)
                .with_key_points((0..groups).map(|i| i * SLOT).collect()),
            // Room above the bars for the legend.
            (lo..hi * 12.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|x| {
            rows.get((*x / SLOT) as usize)
                .map_or(String::new(), |r| r.transport.to_owned())
        })
        .y_label_formatter(&|y| short(*y))
        .y_labels(LABELS)
        .x_desc("transport")
        .y_desc("messages per second (log scale)")
        .label_style((FONT, 16))
        .draw()?;
    for (k, (label, colour, figure)) in bars.iter().enumerate() {
        let centre = (k as i32 - 1) * BAR;
        let colour = *colour;
        chart
            .draw_series(rows.iter().enumerate().filter_map(|(i, r)| {
                let x = i as i32 * SLOT + centre;
                figure(r)
                    .map(|v| Rectangle::new([(x - BAR / 2, lo), (x + BAR / 2, v)], colour.filled()))
            }))?
            .label(label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
    }
    let ratio_style =
        TextStyle::from((FONT, 15).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(rows.iter().enumerate().filter_map(|(i, r)| {
        let hand = r.figures.hand.as_ref()?;
        let top = hand.rate.max(r.figures.batched) * 1.15;
        Some(Text::new(
            ratio(hand.ratio),
            (i as i32 * SLOT + BAR / 2, top),
            ratio_style.clone(),
        ))
    }))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}

/// Fills `root`, writes `title` above and the lines of `notes` below; returns the area
/// between them.
fn frame<'a>(
    root: &Area<'a>,
    title: &str,
    notes: &[&str],
) -> std::result::Result<Area<'a>, Box<dyn StdError>> {
    root.fill(&WHITE)?;
    let foot = 22 * notes.len() as u32 + 12;
    let (body, bottom) = root.split_vertically(HEIGHT - foot);
    for (i, line) in notes.iter().enumerate() {
        bottom.draw(&Text::new(
            line.to_string(),
            (20, 4 + 22 * i as i32),
            (FONT, 15).into_font().color(&RGBColor(80, 80, 80)),
        ))?;
    }
    Ok(body.titled(title, (FONT, 24))?)
}

/// The x position of a message size on the latency chart.
fn position(bytes: usize) -> i32 {
    SIZES.iter().position(|&s| s == bytes).unwrap_or(0) as i32 * SLOT
}

/// The smallest and largest of `values`.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, 0.0), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// A little below the power of ten at or below `v`: where a log axis starts, so that
/// plotters labels that power of ten.
fn decade_below(v: f64) -> f64 {
    10f64.powf(v.log10().floor()) * 0.95
}

/// A tick label: `0.5`, `20`, `100 k`, `2 M`.
fn short(v: f64) -> String {
    let (value, unit) = match v {
        v if v >= 1e6 => (v / 1e6, " M"),
        v if v >= 1e4 => (v / 1e3, " k"),
        v => (v, ""),
    };
    let digits = format!("{value:.2}");
    let digits = digits.trim_end_matches('0').trim_end_matches('.');
    format!("{digits}{unit}")
}

fn failed(path: &Path, e: Box<dyn StdError>) -> Error {
    Error::Io {
        op: "draw a chart",
        source: std::io::Error::other(format!("{}: {e}", path.display())),
    }
}
