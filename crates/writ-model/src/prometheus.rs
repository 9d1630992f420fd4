//! The Prometheus text exposition format (version 0.0.4), written by hand: the control plane and
//! the gates render their metrics with these pieces, so every `/metrics` of Writ has the same
//! buckets, escaping and layout.

use std::fmt::{Display, Write};

/// Upper bounds (seconds) of every latency histogram's buckets: 100 µs to 1 s.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// A latency histogram over [`LATENCY_BUCKETS`], cumulative per bucket.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    counts: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    /// Counts one observation of `secs` seconds.
    pub fn observe(&mut self, secs: f64) {
        for (b, c) in LATENCY_BUCKETS.iter().zip(self.counts.iter_mut()) {
            if secs <= *b {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    /// How many observations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The cumulative count of each bucket of [`LATENCY_BUCKETS`].
    pub fn bucket_counts(&self) -> &[u64] {
        &self.counts
    }
}

/// The kind of a metric family.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A metrics page being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, help: &str, kind: Kind) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        self
    }

    /// One sample, label values escaped.
    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl Display,
    ) -> &mut Self {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// The `_bucket`, `_sum` and `_count` samples of one histogram.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) -> &mut Self {
        for (b, c) in LATENCY_BUCKETS.iter().zip(h.counts.iter()) {
            let _ = write!(self.out, "{name}_bucket");
            write_labels(&mut self.out, labels, Some(&b.to_string()));
            let _ = writeln!(self.out, " {c}");
        }
        let _ = write!(self.out, "{name}_bucket");
        write_labels(&mut self.out, labels, Some("+Inf"));
        let _ = writeln!(self.out, " {}", h.count);
        let _ = write!(self.out, "{name}_sum");
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", h.sum);
        let _ = write!(self.out, "{name}_count");
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", h.count);
        self
    }

    /// The page.
    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        for ch in v.chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_histograms_in_the_text_format() {
        let mut h = Histogram::default();
        h.observe(0.0003);
        h.observe(2.0);
        let mut e = Exposition::default();
        e.family("x_total", "Things.", Kind::Counter)
            .sample("x_total", &[("reason", "a\"b\\c\nd")], 3)
            .family("y_seconds", "Time.", Kind::Histogram)
            .histogram("y_seconds", &[("route", "/r")], &h)
            .family("z", "Gauge.", Kind::Gauge)
            .sample("z", &[], 1);
        let text = e.finish();
        assert!(text.contains("# HELP x_total Things.\n# TYPE x_total counter\n"));
        assert!(text.contains("x_total{reason=\"a\\\"b\\\\c\\nd\"} 3\n"));
        assert!(text.contains("y_seconds_bucket{route=\"/r\",le=\"0.00025\"} 0\n"));
        assert!(text.contains("y_seconds_bucket{route=\"/r\",le=\"0.0005\"} 1\n"));
        assert!(text.contains("y_seconds_bucket{route=\"/r\",le=\"1\"} 1\n"));
        assert!(text.contains("y_seconds_bucket{route=\"/r\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("y_seconds_count{route=\"/r\"} 2\n"));
        assert!(text.contains("y_seconds_sum{route=\"/r\"} 2.0003\n"));
        assert!(text.contains("\nz 1\n"));
    }
}
