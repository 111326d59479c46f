//! A histogram sample built at scrape time from a population of values (pipelines, streams),
//! in the shape prometheus-client's encoder takes.

/// Sum, count and per-bucket counts over values with per-family bucket bounds.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Histogram {
    pub(super) sum: f64,
    pub(super) count: u64,
    /// Non-cumulative counts per upper bound, `+Inf` last (the encoder accumulates).
    pub(super) buckets: Vec<(f64, u64)>,
}

impl Histogram {
    pub(super) fn of(values: impl IntoIterator<Item = f64>, bounds: &[f64]) -> Histogram {
        let mut buckets: Vec<(f64, u64)> = bounds
            .iter()
            .map(|b| (*b, 0))
            .chain([(f64::INFINITY, 0)])
            .collect();
        let (mut sum, mut count) = (0.0, 0);
        for v in values {
            sum += v;
            count += 1;
            if let Some(bucket) = buckets.iter_mut().find(|(bound, _)| v <= *bound) {
                bucket.1 += 1;
            }
        }
        Histogram {
            sum,
            count,
            buckets,
        }
    }

    /// The same histogram as [`Histogram::of`] over values sorted ascending (and free of NaN),
    /// found by binary search per bucket: O(buckets × log n) instead of O(n × buckets).
    pub(super) fn of_sorted(sorted: &[f64], bounds: &[f64]) -> Histogram {
        let mut below = 0;
        let buckets = bounds
            .iter()
            .chain(&[f64::INFINITY])
            .map(|bound| {
                let upto = sorted.partition_point(|v| v <= bound);
                let n = (upto - below) as u64;
                below = upto;
                (*bound, n)
            })
            .collect();
        Histogram {
            sum: sorted.iter().sum(),
            count: sorted.len() as u64,
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_histograms_equal_unsorted_ones() {
        // Deterministic spread of values, bounds hit exactly, below the first and above the last.
        let mut values: Vec<f64> = (0..500).map(|i| f64::from((i * 37) % 101) / 10.0).collect();
        values.extend([-1.0, 0.0, 1.0, 2.5, 50.0]);
        let bounds = [0.0, 1.0, 2.5, 5.0, 10.0];
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let (a, b) = (
            Histogram::of(values, &bounds),
            Histogram::of_sorted(&sorted, &bounds),
        );
        assert_eq!((a.count, &a.buckets), (b.count, &b.buckets));
        assert!((a.sum - b.sum).abs() < 1e-9, "{} vs {}", a.sum, b.sum);
        let empty = Histogram::of_sorted(&[], &bounds);
        assert_eq!((empty.count, empty.sum), (0, 0.0));
        assert!(empty.buckets.iter().all(|(_, n)| *n == 0));
    }

    #[test]
    fn histogram_buckets_are_per_bound_with_inf_last() {
        let h = Histogram::of([0.0, 1.0, 2.5, 100.0], &[1.0, 2.0, 4.0]);
        assert_eq!(h.count, 4);
        assert_eq!(h.sum, 103.5);
        assert_eq!(
            h.buckets,
            vec![(1.0, 2), (2.0, 0), (4.0, 1), (f64::INFINITY, 1)]
        );
    }
}
