//! The label sets of our families, one small struct per combination of label names, over
//! borrowed `&str`s: a sample's labels cost no allocation, and a family's label names are fixed
//! by the type it is written with (checked against the catalogue at the family's first sample in
//! debug builds, see [`CatalogueLabels`]).
//!
//! prometheus-client's `#[derive(EncodeLabelSet)]` cannot be used here: it implements the trait
//! for the type without its lifetime parameter, so it only fits owned label values.

use std::fmt;

use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};

use crate::analysis::model::Scope;

/// A label set whose names the catalogue lists (`MetricDef::labels`).
pub(super) trait CatalogueLabels: EncodeLabelSet {
    /// The label names, in the order the catalogue lists them. Detail labels are not listed:
    /// the catalogue marks families that carry them with `detail`.
    fn names() -> Vec<&'static str>;

    /// Whether the set carries the detail labels (`pipeline`, `element`, `element_type`).
    fn detail() -> bool {
        false
    }
}

/// A family's label set is its labels' concatenation: `(Kms, Reason)` is `kms`, `reason`.
impl<A: CatalogueLabels, B: CatalogueLabels> CatalogueLabels for (A, B) {
    fn names() -> Vec<&'static str> {
        let mut names = A::names();
        names.extend(B::names());
        names
    }

    fn detail() -> bool {
        A::detail() || B::detail()
    }
}

/// A family's own labels from the values the summary keeps per series (without their names).
/// Implemented on the `'static` form of each label set, which names the set for any lifetime.
pub(super) trait FromValues {
    /// The label set over values borrowed for `'v`.
    type Set<'v>: CatalogueLabels;

    /// From values in label order; `None` if their number differs from the set's.
    fn from_values<S: AsRef<str>>(values: &[S]) -> Option<Self::Set<'_>>;
}

/// The label set of a family without labels (the exporter's own process-wide gauges).
#[derive(Debug, Clone, Copy)]
pub(super) struct NoLabels;

impl EncodeLabelSet for NoLabels {
    fn encode(&self, _: &mut LabelSetEncoder) -> fmt::Result {
        Ok(())
    }
}

impl CatalogueLabels for NoLabels {
    fn names() -> Vec<&'static str> {
        Vec::new()
    }
}

fn encode_label(encoder: &mut LabelSetEncoder, name: &str, value: &str) -> fmt::Result {
    (name, value).encode(encoder.encode_label())
}

/// Defines a label set whose field names are its label names, in order.
macro_rules! label_set {
    ($(#[$doc:meta])* $name:ident { $($field:ident),+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub(super) struct $name<'a> {
            $(pub(super) $field: &'a str,)+
        }

        impl FromValues for $name<'static> {
            type Set<'v> = $name<'v>;

            fn from_values<S: AsRef<str>>(values: &[S]) -> Option<$name<'_>> {
                let [$($field),+] = values else {
                    return None;
                };
                Some($name { $($field: $field.as_ref()),+ })
            }
        }

        impl EncodeLabelSet for $name<'_> {
            fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
                $(encode_label(encoder, stringify!($field), self.$field)?;)+
                Ok(())
            }
        }

        impl CatalogueLabels for $name<'_> {
            fn names() -> Vec<&'static str> {
                vec![$(stringify!($field)),+]
            }
        }
    };
}

label_set!(
    /// The target, on every family but the build's.
    Kms { kms }
);
label_set!(
    /// `kurento_exporter_build_info`.
    Build { version, revision }
);
label_set!(Reason { reason });
label_set!(Read { read });
label_set!(Format { format });
label_set!(Source { source });
label_set!(Version { version });
label_set!(ElementType { element_type });
label_set!(Media { media });
label_set!(MediaDirection { media, direction });
label_set!(State { state });
label_set!(Candidate { candidate_type });

/// `kms` then the detail labels of a scope: `pipeline` at pipeline detail, and `element`,
/// `element_type` at element detail.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scoped<'a> {
    pub(super) kms: &'a str,
    pub(super) scope: &'a Scope,
}

impl EncodeLabelSet for Scoped<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
        encode_label(encoder, "kms", self.kms)?;
        if let Some(pipeline) = &self.scope.pipeline {
            encode_label(encoder, "pipeline", pipeline)?;
        }
        if let Some((element, element_type)) = &self.scope.element {
            encode_label(encoder, "element", element)?;
            encode_label(encoder, "element_type", element_type)?;
        }
        Ok(())
    }
}

impl CatalogueLabels for Scoped<'_> {
    fn names() -> Vec<&'static str> {
        vec!["kms"]
    }

    fn detail() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_concatenate_and_detail_propagates() {
        assert_eq!(
            <(Scoped, MediaDirection)>::names(),
            ["kms", "media", "direction"]
        );
        assert!(<(Scoped, Media)>::detail());
        assert!(!<(Kms, (ElementType, State))>::detail());
        assert_eq!(
            <(Kms, (ElementType, State))>::names(),
            ["kms", "element_type", "state"]
        );
    }

    #[test]
    fn from_values_takes_exactly_its_number_of_values() {
        let two = ["audio".to_owned(), "in".to_owned()];
        let labels = MediaDirection::from_values(&two).unwrap();
        assert_eq!((labels.media, labels.direction), ("audio", "in"));
        assert!(Media::from_values(&two).is_none());
        assert!(MediaDirection::from_values::<&str>(&[]).is_none());
    }
}
