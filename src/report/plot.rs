//! SVG charts drawn with plotters' SVG backend. Text stays `<text>` in the SVG (no font
//! files are read), so the output is small, selectable and renders offline.
use plotters::{
    coord::{Shift, types::RangedCoordf64},
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use crate::{Error, Result};

/// A named polyline.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Colours that stay distinct for colour-blind readers and in grey print (Okabe-Ito).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

const FONT: &str = "sans-serif";

/// The colour of series number `i`.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn plot_err<E: std::error::Error + Send + Sync + 'static>(e: DrawingAreaErrorKind<E>) -> Error {
    Error::render("drawing a chart", e)
}

/// A padded axis range covering `vals` (finite ones only); never empty.
fn span(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let pad = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// Axis-number formatting short enough for tick labels.
pub fn short_num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A tick label on an axis spanning `span`: ticks computed as `lo + i·step` land a rounding
/// error away from zero (e.g. −2.7e-20 on a learning-rate axis), which is printed as 0.
pub fn tick_label(v: f64, span: f64) -> String {
    if v.abs() <= span.abs() * 1e-9 {
        "0".into()
    } else {
        short_num(v)
    }
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The frame every x–y chart shares: caption, axes with descriptions, light grid, and tick
/// labels that print a rounding error from zero as 0.
fn axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 18))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| tick_label(*v, x1 - x0))
        .y_label_formatter(&|v| tick_label(*v, y1 - y0))
        .light_line_style(RGBColor(238, 238, 238))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// How a legend entry shows its series.
#[derive(Clone, Copy)]
enum Swatch {
    Line,
    Square,
}

/// Legend entries per row and the strip's height for `names` on a chart `width` px wide
/// (text width estimated at 7 px a character).
fn legend_layout(names: &[&str], width: u32) -> (Vec<Vec<usize>>, u32) {
    if names.len() < 2 {
        return (Vec::new(), 0);
    }
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut x = 60u32;
    for (i, n) in names.iter().enumerate() {
        let w = 40 + 7 * n.chars().count() as u32;
        let last = rows.len() - 1;
        if x + w > width && !rows[last].is_empty() {
            rows.push(Vec::new());
            x = 60;
        }
        let last = rows.len() - 1;
        rows[last].push(i);
        x += w;
    }
    let h = 8 + 18 * rows.len() as u32;
    (rows, h)
}

/// Draws the legend in its own strip under the plotting area, so it never covers data.
fn legend_strip(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    names: &[&str],
    colors: &[RGBColor],
    rows: &[Vec<usize>],
    swatch: Swatch,
) -> Result<()> {
    let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (ri, row) in rows.iter().enumerate() {
        let y = 10 + 18 * ri as i32;
        let mut x = 60i32;
        for &i in row {
            let c = colors[i];
            match swatch {
                Swatch::Line => area
                    .draw(&PathElement::new(
                        vec![(x, y), (x + 18, y)],
                        c.stroke_width(2),
                    ))
                    .map_err(plot_err)?,
                Swatch::Square => area
                    .draw(&Rectangle::new(
                        [(x + 5, y - 4), (x + 13, y + 4)],
                        c.filled(),
                    ))
                    .map_err(plot_err)?,
            }
            area.draw(&Text::new(names[i].to_string(), (x + 24, y), style.clone()))
                .map_err(plot_err)?;
            x += 40 + 7 * names[i].chars().count() as i32;
        }
    }
    Ok(())
}

/// Extra marks on a line chart: a shaded x-window and a dashed vertical line.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    /// `(x0, x1)` shaded behind the curves.
    pub band: Option<(f64, f64)>,
    /// A dashed vertical line at this x.
    pub vline: Option<f64>,
}

/// Line chart of several series sharing both axes; a legend strip under it names the
/// series that have points when there is more than one (a series without points is left out).
pub fn line_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    size: (u32, u32),
) -> Result<String> {
    line_chart_marked(title, x_desc, y_desc, series, size, &Marks::default())
}

/// [`line_chart`] with a shaded window and a marker line.
pub fn line_chart_marked(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    size: (u32, u32),
    marks: &Marks,
) -> Result<String> {
    let drawn: Vec<(usize, Vec<(f64, f64)>)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            (i, pts)
        })
        .filter(|(_, pts)| !pts.is_empty())
        .collect();
    let names: Vec<&str> = drawn
        .iter()
        .map(|(i, _)| series[*i].name.as_str())
        .collect();
    let colors: Vec<RGBColor> = drawn.iter().map(|(i, _)| color(*i)).collect();
    let (rows, strip) = legend_layout(&names, size.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (upper, lower) = root.split_vertically(size.1 - strip);
        let extra_x = marks
            .band
            .into_iter()
            .flat_map(|b| [b.0, b.1])
            .chain(marks.vline);
        let (x0, x1) = span(
            drawn
                .iter()
                .flat_map(|(_, p)| p.iter().map(|p| p.0))
                .chain(extra_x),
        );
        let (y0, y1) = span(drawn.iter().flat_map(|(_, p)| p.iter().map(|p| p.1)));
        let mut chart = axes(&upper, title, (x_desc, y_desc), (x0, x1), (y0, y1))?;
        if let Some((b0, b1)) = marks.band {
            // A one-point window still shows, as a narrow band.
            let pad = ((x1 - x0) * 0.01 - (b1 - b0)).max(0.0) / 2.0;
            let (b0, b1) = (b0 - pad, b1 + pad);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(b0, y0), (b1, y1)],
                    BAND.filled(),
                )))
                .map_err(plot_err)?;
        }
        if let Some(v) = marks.vline {
            let n = 24;
            let dash = (0..n).step_by(2).map(|k| {
                let t = |k: usize| y0 + (y1 - y0) * k as f64 / n as f64;
                PathElement::new(
                    vec![(v, t(k)), (v, t(k + 1))],
                    RGBColor(90, 90, 90).stroke_width(1),
                )
            });
            chart.draw_series(dash).map_err(plot_err)?;
        }
        for ((_, pts), &c) in drawn.iter().zip(&colors) {
            let style = ShapeStyle::from(&c).stroke_width(2);
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), style))
                .map_err(plot_err)?;
            if pts.len() <= 30 {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 2, c.filled())))
                    .map_err(plot_err)?;
            }
        }
        legend_strip(&lower, &names, &colors, &rows, Swatch::Line)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// The fill of [`Marks::band`]: a light amber that keeps every curve colour readable.
const BAND: RGBColor = RGBColor(250, 222, 165);

/// One group of scatter points, optionally with vertical intervals (confidence bars).
#[derive(Debug, Clone, Default)]
pub struct PointGroup {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// `(x, low, high)` bars drawn behind the points.
    pub bars: Vec<(f64, f64, f64)>,
}

/// Scatter plot; `diagonal` adds the y = x line (predicted vs observed). Groups without
/// points are not drawn and get no legend entry; with two or more groups a legend strip
/// under the plot names them.
pub fn scatter(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    groups: &[PointGroup],
    diagonal: bool,
    size: (u32, u32),
) -> Result<String> {
    let drawn: Vec<usize> = (0..groups.len())
        .filter(|&i| !groups[i].points.is_empty())
        .collect();
    let names: Vec<&str> = drawn.iter().map(|&i| groups[i].name.as_str()).collect();
    let colors: Vec<RGBColor> = drawn.iter().map(|&i| color(i)).collect();
    let (rows, strip) = legend_layout(&names, size.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (upper, lower) = root.split_vertically(size.1 - strip);
        let groups: Vec<&PointGroup> = drawn.iter().map(|&i| &groups[i]).collect();
        let xs = groups.iter().flat_map(|g| g.points.iter().map(|p| p.0));
        let ys = groups.iter().flat_map(|g| {
            g.points
                .iter()
                .map(|p| p.1)
                .chain(g.bars.iter().flat_map(|b| [b.1, b.2]))
        });
        let (mut x0, mut x1) = span(xs);
        let (mut y0, mut y1) = span(ys);
        if diagonal {
            (x0, x1) = (x0.min(y0), x1.max(y1));
            (y0, y1) = (x0, x1);
        }
        let mut chart = axes(&upper, title, (x_desc, y_desc), (x0, x1), (y0, y1))?;
        if diagonal {
            chart
                .draw_series(LineSeries::new(
                    [(x0, x0), (x1, x1)],
                    RGBColor(150, 150, 150).stroke_width(1),
                ))
                .map_err(plot_err)?;
        }
        for (g, &c) in groups.iter().zip(&colors) {
            chart
                .draw_series(g.bars.iter().map(|&(x, lo, hi)| {
                    PathElement::new(vec![(x, lo), (x, hi)], c.mix(0.6).stroke_width(1))
                }))
                .map_err(plot_err)?;
            let r = if g.points.len() > 500 { 2 } else { 3 };
            let fill = if g.points.len() > 500 {
                c.mix(0.5).filled()
            } else {
                c.filled()
            };
            chart
                .draw_series(g.points.iter().map(|&p| Circle::new(p, r, fill)))
                .map_err(plot_err)?;
        }
        legend_strip(&lower, &names, &colors, &rows, Swatch::Square)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Viridis (perceptually uniform, colour-blind safe, greys well in print), from 9 stops.
pub fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 45, 123),
        (59, 82, 139),
        (44, 114, 142),
        (33, 145, 140),
        (40, 174, 128),
        (94, 201, 98),
        (173, 220, 48),
        (253, 231, 37),
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Diverging blue–white–red (ColorBrewer RdBu ends): 0 and 1 are the extremes, 0.5 the centre.
pub fn diverging(t: f64) -> RGBColor {
    const LOW: (f64, f64, f64) = (33.0, 102.0, 172.0);
    const MID: (f64, f64, f64) = (247.0, 247.0, 247.0);
    const HIGH: (f64, f64, f64) = (178.0, 24.0, 43.0);
    let t = t.clamp(0.0, 1.0);
    let (a, b, f) = if t < 0.5 {
        (LOW, MID, t * 2.0)
    } else {
        (MID, HIGH, (t - 0.5) * 2.0)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// How a heatmap maps values to colours. A scale fitted to the data alone turns a spread
/// of 65.2–65.8 bp into the whole palette, so quantities with a natural origin say so.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// Viridis from the smallest to the largest value.
    Data,
    /// Viridis from 0 (or the smallest value, when negative) to the largest value.
    FromZero,
    /// Viridis over a fixed range (widened to any value outside it), e.g. 0–1 fractions.
    Fixed(f64, f64),
    /// Blue–white–red, white at this value, symmetric around it (signed effects).
    Diverging(f64),
    /// A ratio: blue–white–red with 0 at the blue end, white at 1 and the largest value
    /// (at least 2) at the red end.
    Ratio,
}

impl Scale {
    /// `Fixed(0, 1)` when every value lies in [0, 1], else `fallback`.
    pub fn unit_or(values: &[Option<f64>], fallback: Scale) -> Scale {
        if values.iter().flatten().all(|v| (0.0..=1.0).contains(v)) {
            Scale::Fixed(0.0, 1.0)
        } else {
            fallback
        }
    }

    /// The colour range for values spanning `lo..=hi`.
    fn range(self, lo: f64, hi: f64) -> (f64, f64) {
        match self {
            Scale::Data => (lo, hi),
            Scale::FromZero => (lo.min(0.0), hi.max(0.0)),
            Scale::Fixed(a, b) => (a.min(lo), b.max(hi)),
            Scale::Diverging(c) => {
                let h = (hi - c).abs().max((lo - c).abs());
                let h = if h > 0.0 { h } else { 1.0 };
                (c - h, c + h)
            }
            Scale::Ratio => (lo.min(0.0), hi.max(2.0)),
        }
    }

    /// Where `v` falls on the palette (0–1) for a colour range `lo..=hi`.
    fn position(self, v: f64, lo: f64, hi: f64) -> f64 {
        let t = match self {
            Scale::Ratio if v < 1.0 => 0.5 * (v - lo) / (1.0 - lo),
            Scale::Ratio => 0.5 + 0.5 * (v - 1.0) / (hi - 1.0),
            _ if hi > lo => (v - lo) / (hi - lo),
            _ => 0.5,
        };
        t.clamp(0.0, 1.0)
    }

    fn color(self, t: f64) -> RGBColor {
        match self {
            Scale::Diverging(_) | Scale::Ratio => diverging(t),
            _ => viridis(t),
        }
    }
}

/// A grid of values to draw as a heatmap; `None` cells are grey.
#[derive(Debug, Clone)]
pub struct Grid {
    pub title: String,
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
    /// Row-major, `row_labels.len() * col_labels.len()` values.
    pub values: Vec<Option<f64>>,
    /// Text written in each cell (same layout as `values`); empty means the formatted value.
    pub cell_text: Vec<String>,
    pub scale: Scale,
}

/// Whether text on `c` reads better in white (relative luminance below one half).
fn dark(c: RGBColor) -> bool {
    0.2126 * f64::from(c.0) + 0.7152 * f64::from(c.1) + 0.0722 * f64::from(c.2) < 128.0
}

/// Heatmap, row 0 at the top, with a colour key under it that prints the scale's range
/// (and the values' range when the scale is wider).
pub fn heatmap(grid: &Grid, cell: u32) -> Result<String> {
    let (nr, nc) = (grid.row_labels.len(), grid.col_labels.len());
    if grid.values.len() != nr * nc {
        return Err(Error::Invalid(format!(
            "heatmap '{}': {} values for a {nr} x {nc} grid",
            grid.title,
            grid.values.len()
        )));
    }
    let left = 12 + 7 * grid.row_labels.iter().map(|s| s.len()).max().unwrap_or(1) as u32;
    let top = 46u32;
    let key_h = 40u32;
    let finite: Vec<f64> = grid.values.iter().flatten().copied().collect();
    let (vmin, vmax) = match (
        finite.iter().copied().reduce(f64::min),
        finite.iter().copied().reduce(f64::max),
    ) {
        (Some(a), Some(b)) => (a, b),
        _ => (0.0, 1.0),
    };
    let (lo, hi) = grid.scale.range(vmin, vmax);
    let key_text = if finite.is_empty() {
        "no values".to_string()
    } else if (lo, hi) == (vmin, vmax) {
        format!("{} to {}", short_num(lo), short_num(hi))
    } else {
        format!(
            "scale {} to {}; values {} to {}",
            short_num(lo),
            short_num(hi),
            short_num(vmin),
            short_num(vmax)
        )
    };
    // Wide enough for the grid, the title and the colour key (text width estimated at 8 px a character).
    let w = (left + cell * nc.max(1) as u32 + 16)
        .max(left + 8 * grid.title.chars().count() as u32 + 8)
        .max(left + 150 + 7 * key_text.len() as u32);
    let h = top + cell * nr.max(1) as u32 + key_h;
    let norm = |v: f64| grid.scale.position(v, lo, hi);
    let show_text = cell >= 26;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let center = Pos::new(HPos::Center, VPos::Center);
        root.draw(&Text::new(
            grid.title.clone(),
            (left as i32, 6),
            TextStyle::from((FONT, 17).into_font()).pos(Pos::new(HPos::Left, VPos::Top)),
        ))
        .map_err(plot_err)?;
        let label_style = TextStyle::from((FONT, 13).into_font());
        for (c, name) in grid.col_labels.iter().enumerate() {
            let x = (left + cell * c as u32 + cell / 2) as i32;
            root.draw(&Text::new(
                name.clone(),
                (x, top as i32 - 4),
                label_style.pos(Pos::new(HPos::Center, VPos::Bottom)),
            ))
            .map_err(plot_err)?;
        }
        for (r, name) in grid.row_labels.iter().enumerate() {
            let y = (top + cell * r as u32 + cell / 2) as i32;
            root.draw(&Text::new(
                name.clone(),
                (left as i32 - 6, y),
                label_style.pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(plot_err)?;
            for c in 0..nc {
                let x0 = (left + cell * c as u32) as i32;
                let y0 = (top + cell * r as u32) as i32;
                let v = grid.values[r * nc + c];
                let fill = match v {
                    Some(v) => grid.scale.color(norm(v)),
                    None => RGBColor(215, 215, 215),
                };
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell as i32, y0 + cell as i32)],
                    fill.filled(),
                ))
                .map_err(plot_err)?;
                if show_text {
                    let text = match grid.cell_text.get(r * nc + c) {
                        Some(t) if !t.is_empty() => t.clone(),
                        _ => v.map_or("NA".to_string(), short_num),
                    };
                    let ink = if v.is_some() && dark(fill) {
                        WHITE
                    } else {
                        BLACK
                    };
                    root.draw(&Text::new(
                        text,
                        (x0 + cell as i32 / 2, y0 + cell as i32 / 2),
                        TextStyle::from((FONT, 13).into_font())
                            .pos(center)
                            .color(&ink),
                    ))
                    .map_err(plot_err)?;
                }
            }
        }
        // Colour key: a 10-step bar over the scale's range under the grid.
        let ky = (top + cell * nr.max(1) as u32 + 12) as i32;
        let step = 14i32;
        for k in 0..10 {
            let x0 = left as i32 + k * step;
            root.draw(&Rectangle::new(
                [(x0, ky), (x0 + step, ky + 10)],
                grid.scale.color(k as f64 / 9.0).filled(),
            ))
            .map_err(plot_err)?;
        }
        root.draw(&Text::new(
            key_text,
            (left as i32 + 10 * step + 6, ky + 5),
            label_style.pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_text() {
        let s = line_chart(
            "loss",
            "step",
            "loss",
            &[Series {
                name: "train <a&b>".into(),
                points: vec![(0.0, 1.0), (1.0, 0.5)],
            }],
            (300, 200),
        )
        .unwrap();
        assert!(s.starts_with("<svg"), "{}", &s[..40]);
        assert!(s.contains("<text"));
        let g = Grid {
            title: "entropy".into(),
            row_labels: vec!["L0".into(), "L1".into()],
            col_labels: vec!["H0".into()],
            values: vec![Some(1.0), None],
            cell_text: vec![],
            scale: Scale::Data,
        };
        let s = heatmap(&g, 30).unwrap();
        assert!(s.split("<text").skip(1).any(|t| t.contains("NA")));
        assert_eq!(short_num(0.12345), "0.123");
        assert_eq!(short_num(1234.5), "1234");
        assert_eq!(short_num(2.50), "2.5");
        assert_eq!(tick_label(-2.7e-20, 1e-3), "0");
        assert_eq!(tick_label(2e-4, 1e-3), "2.0e-4");
        assert_eq!(tick_label(0.5, 2.0), "0.5");
    }

    fn series(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
        }
    }

    /// The y of the `<text>` element whose content is `name`.
    fn text_y(svg: &str, name: &str) -> Option<f64> {
        let end = svg.find(&format!(">\n{name}\n</text>"))?;
        let start = svg[..end].rfind("<text")?;
        let tag = &svg[start..end];
        let y = tag.split(" y=\"").nth(1)?.split('"').next()?;
        y.parse().ok()
    }

    #[test]
    fn legends_sit_under_the_plot_and_skip_empty_series() {
        let two = [
            series("alpha", vec![(0.0, 1.0), (1.0, 2.0)]),
            series("beta", vec![(0.0, 2.0), (1.0, 1.0)]),
        ];
        let s = line_chart("t", "x", "y", &two, (400, 280)).unwrap();
        for name in ["alpha", "beta"] {
            let y = text_y(&s, name).unwrap_or_else(|| panic!("no legend entry {name}"));
            // below the x axis and its label: in the strip under the plotting area
            assert!(y > 280.0 - 26.0, "{name} at y {y}");
        }
        // a series without a finite point gets no legend entry; one left: no legend
        let with_empty = [
            series("alpha", vec![(0.0, 1.0), (1.0, 2.0)]),
            series("val_auroc", vec![(0.0, f64::NAN)]),
        ];
        let s = line_chart("t", "x", "y", &with_empty, (400, 280)).unwrap();
        assert!(text_y(&s, "val_auroc").is_none() && text_y(&s, "alpha").is_none());
        let groups = [
            PointGroup {
                name: "test".into(),
                points: vec![(1.0, 1.0)],
                bars: vec![],
            },
            PointGroup {
                name: "validation".into(),
                ..PointGroup::default()
            },
            PointGroup {
                name: "other".into(),
                points: vec![(2.0, 1.5)],
                bars: vec![],
            },
        ];
        let s = scatter("t", "x", "y", &groups, true, (300, 300)).unwrap();
        assert!(text_y(&s, "validation").is_none());
        assert!(text_y(&s, "test").unwrap() > 300.0 - 26.0);
        assert_eq!(s.matches("<circle").count(), 2);
    }

    #[test]
    fn heatmap_scales_start_at_natural_origins() {
        let grid = |values: Vec<Option<f64>>, scale| Grid {
            title: "g".into(),
            row_labels: vec!["L0".into()],
            col_labels: (0..values.len()).map(|i| format!("H{i}")).collect(),
            values,
            cell_text: vec![],
            scale,
        };
        // 65.19–65.76 bp no longer fills the whole palette
        let s = heatmap(&grid(vec![Some(65.19), Some(65.76)], Scale::FromZero), 30).unwrap();
        assert!(s.contains("scale 0 to 65.76; values 65.19 to 65.76"), "{s}");
        let s = heatmap(
            &grid(vec![Some(0.2), Some(0.4)], Scale::Fixed(0.0, 1.0)),
            30,
        )
        .unwrap();
        assert!(s.contains("scale 0 to 1; values 0.2 to 0.4"));
        let s = heatmap(&grid(vec![Some(1.0), Some(2.0)], Scale::Data), 30).unwrap();
        assert!(s.contains("\n1 to 2\n"));
        // signed: symmetric around the centre, white there
        assert_eq!(Scale::Diverging(0.0).range(-1.0, 3.0), (-3.0, 3.0));
        assert_eq!(Scale::Diverging(1.0).range(0.5, 1.2), (0.5, 1.5));
        assert_eq!(diverging(0.5), RGBColor(247, 247, 247));
        // ratios: 0 blue, 1 white, the largest red
        assert_eq!(Scale::Ratio.range(1.5, 7.9), (0.0, 7.9));
        assert_eq!(Scale::Ratio.position(1.0, 0.0, 7.9), 0.5);
        assert_eq!(Scale::Ratio.position(0.0, 0.0, 7.9), 0.0);
        assert_eq!(Scale::Ratio.position(7.9, 0.0, 7.9), 1.0);
        let s = heatmap(
            &grid(vec![Some(-0.5), Some(0.0)], Scale::Diverging(0.0)),
            30,
        )
        .unwrap();
        assert!(s.contains("#F7F7F7"), "0 is white");
        assert_eq!(
            Scale::unit_or(&[Some(0.3), None], Scale::Data),
            Scale::Fixed(0.0, 1.0)
        );
        assert_eq!(Scale::unit_or(&[Some(1.3)], Scale::Data), Scale::Data);
    }
}
