//! The `metrics!` macro behind the declaration table in `metrics.rs`, and the metric types a
//! declaration may name (the registry backend's `metrics/macros.rs` is the model).

use prometheus::core::{
    Atomic, Collector, GenericCounter, GenericCounterVec, GenericGauge, GenericGaugeVec,
};
use prometheus::{HistogramOpts, HistogramVec, Opts, Registry};

/// Declares a struct of metric handles, one field per metric, and `fn declared() -> Self`, which
/// creates every declared metric and registers it in the struct's own `registry` field.
///
/// A field reads `/// Help text.` then
/// `vis field: Type["label", ...] as "exported_name" buckets BUCKETS,`, where the labels are for
/// vec types, `as` is needed only where the exported name differs from the field name, and
/// `buckets` is for histograms. A declaration whose labels or buckets do not fit its type fails
/// to compile.
macro_rules! metrics {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $field_vis:vis $field:ident: $ty:ident
                    $([$($label:literal),* $(,)?])?
                    $(as $metric:literal)?
                    $(buckets $buckets:expr)?
            ),* $(,)?
        }
        namespace: $namespace:literal $(,)?
    ) => {
        $(#[$meta])*
        $vis struct $name {
            /// The registry every declared metric is registered in.
            registry: ::prometheus::Registry,
            $( $(#[doc = $doc])+ $field_vis $field: $ty, )*
        }

        impl $name {
            /// Creates every declared metric and registers it in a registry of its own.
            fn declared() -> Self {
                let registry = ::prometheus::Registry::new();
                $(
                    let $field = {
                        const DECLARATION: $crate::metrics::macros::Declaration =
                            $crate::metrics::macros::metrics!(@declaration $namespace $field
                                [$($($label),*)?] [$($metric)?] [$($buckets)?] [$($doc),+]);
                        // An item, not an inline `const { }`: `cargo check` and clippy
                        // evaluate items too, and so report a misfit declaration.
                        const _: () = assert!(
                            DECLARATION.fits::<$ty>(),
                            concat!(
                                "metric `", stringify!($field), "`: labels are for vec types ",
                                "and buckets for histograms, and those types need them"
                            ),
                        );
                        $crate::metrics::macros::register::<$ty>(&registry, &DECLARATION)
                    };
                )*
                Self { registry, $($field),* }
            }
        }

        #[cfg(test)]
        impl $name {
            /// The table, for the test that proves every declared metric is exported.
            const DECLARATIONS: &[$crate::metrics::macros::Declaration] = &[$(
                $crate::metrics::macros::metrics!(@declaration $namespace $field
                    [$($($label),*)?] [$($metric)?] [$($buckets)?] [$($doc),+])
            ),*];

            /// Gives every vec one series (its label names as values): a vec without series is
            /// absent from the text.
            fn touch_every_vec(&self) {
                $( $crate::metrics::macros::Declared::touch(&self.$field, &[$($($label),*)?]); )*
            }
        }
    };

    (@declaration $namespace:literal $field:ident
        [$($label:literal),*] [$($metric:literal)?] [$($buckets:expr)?] [$($doc:literal),+]
    ) => {
        $crate::metrics::macros::Declaration {
            namespace: $namespace,
            name: $crate::metrics::macros::metrics!(@name $field $($metric)?),
            doc: &[$($doc),+],
            labels: &[$($label),*],
            buckets: $crate::metrics::macros::metrics!(@buckets $($buckets)?),
        }
    };
    (@name $field:ident) => { stringify!($field) };
    (@name $field:ident $metric:literal) => { $metric };
    (@buckets) => { &[] };
    (@buckets $buckets:expr) => { $buckets };
}
pub(super) use metrics;

/// One row of the table, as the macro read it.
pub(super) struct Declaration {
    pub namespace: &'static str,
    /// The exported name without the namespace.
    pub name: &'static str,
    /// The doc comment's lines, each with the space that follows `///`.
    pub doc: &'static [&'static str],
    pub labels: &'static [&'static str],
    pub buckets: &'static [f64],
}

impl Declaration {
    /// The help text: the doc comment's first paragraph, its lines joined by spaces. Later
    /// paragraphs are for readers of the code only.
    pub fn help(&self) -> String {
        self.doc
            .iter()
            .map(|line| line.trim())
            .take_while(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether the labels and buckets fit the type: labels exactly for vecs, buckets exactly for
    /// histograms.
    pub const fn fits<M: Declared>(&self) -> bool {
        // Read `!=` as "exactly when not": labelled exactly when the labels are not empty.
        M::LABELLED != self.labels.is_empty() && M::BUCKETED != self.buckets.is_empty()
    }
}

/// Creates the declared metric and registers it. Panics if the registry refuses it (say, a name
/// declared twice), which every test that builds `Metrics` would show.
pub(super) fn register<M: Declared>(registry: &Registry, declaration: &Declaration) -> M {
    let d = declaration;
    let opts = Opts::new(d.name, d.help()).namespace(d.namespace);
    M::build(opts, d.labels, d.buckets)
        .and_then(|metric| registry.register(Box::new(metric.clone())).map(|()| metric))
        .unwrap_or_else(|e| panic!("metric {}_{}: {e}", d.namespace, d.name))
}

/// A metric type that a declaration may name.
pub(super) trait Declared: Collector + Clone + 'static {
    /// Whether the type takes label names (a vec).
    const LABELLED: bool;
    /// Whether the type takes buckets (a histogram).
    const BUCKETED: bool = false;

    fn build(opts: Opts, labels: &[&str], buckets: &[f64]) -> prometheus::Result<Self>;

    /// Gives a vec one series with these label values; a scalar always has its one.
    #[cfg(test)]
    fn touch(&self, _values: &[&str]) {}
}

impl<P: Atomic + 'static> Declared for GenericCounter<P> {
    const LABELLED: bool = false;
    fn build(opts: Opts, _: &[&str], _: &[f64]) -> prometheus::Result<Self> {
        Self::with_opts(opts)
    }
}

impl<P: Atomic + 'static> Declared for GenericGauge<P> {
    const LABELLED: bool = false;
    fn build(opts: Opts, _: &[&str], _: &[f64]) -> prometheus::Result<Self> {
        Self::with_opts(opts)
    }
}

impl<P: Atomic + 'static> Declared for GenericCounterVec<P> {
    const LABELLED: bool = true;
    fn build(opts: Opts, labels: &[&str], _: &[f64]) -> prometheus::Result<Self> {
        Self::new(opts, labels)
    }
    #[cfg(test)]
    fn touch(&self, values: &[&str]) {
        self.with_label_values(values);
    }
}

impl<P: Atomic + 'static> Declared for GenericGaugeVec<P> {
    const LABELLED: bool = true;
    fn build(opts: Opts, labels: &[&str], _: &[f64]) -> prometheus::Result<Self> {
        Self::new(opts, labels)
    }
    #[cfg(test)]
    fn touch(&self, values: &[&str]) {
        self.with_label_values(values);
    }
}

impl Declared for HistogramVec {
    const LABELLED: bool = true;
    const BUCKETED: bool = true;
    fn build(opts: Opts, labels: &[&str], buckets: &[f64]) -> prometheus::Result<Self> {
        Self::new(HistogramOpts::from(opts).buckets(buckets.to_vec()), labels)
    }
    #[cfg(test)]
    fn touch(&self, values: &[&str]) {
        self.with_label_values(values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_is_the_first_paragraph_of_the_doc_comment() {
        let declaration = Declaration {
            namespace: "gumgate",
            name: "x_total",
            doc: &[
                " Lookups by cache",
                " and result.",
                "",
                " Only for readers.",
            ],
            labels: &[],
            buckets: &[],
        };
        assert_eq!(declaration.help(), "Lookups by cache and result.");
    }
}
