//! The sink registry: what a sink kind provides ([`SinkKind`],
//! [`Component`]) and the `sinks!` macro that turns one line per sink into
//! its module, its [`SinkConfig`] variant and its entry in the table the
//! front ends look kind names up in.

use super::shared::Shared;
use super::shorthand::Options;
use super::{Sink, SinkConfig, SinkError};
use serde_json::{Map, Value};

/// What every configured sink does, whatever its kind (object safe).
pub trait Component {
    /// Name in logs and metrics.
    fn name(&self) -> String;
    /// Open the sink. Fails only when it cannot work at all (an unwritable
    /// file, an unreadable CA file, an unusable buffer directory).
    fn build(&self) -> Result<Box<dyn Sink>, SinkError>;
    /// Is the destination usable now? [`SinkError::Unhealthy`] when it does
    /// not answer; [`SinkConfig::build`] logs that as a warning.
    fn healthcheck(&self) -> Result<(), SinkError>;
}

/// How the front ends reach a sink's config: its names, its own settings
/// (the typed map form, serde with `deny_unknown_fields`), how the string
/// shorthand fills those settings, and how settings plus the shared options
/// become the config the sink runs with.
pub trait SinkKind: Component + Into<SinkConfig> + Sized {
    /// Kind names: `type:` in the map form, the word before `:` in the
    /// shorthand (several for flavours of one sink, e.g. `slack`).
    const NAMES: &'static [&'static str];
    /// Whether the disk-buffer options (`buffer`, `batch`,
    /// `buffer_max_mb`) apply.
    const BUFFERED: bool = false;
    /// The sink's own settings (shared options excluded).
    type Settings: serde::de::DeserializeOwned;
    /// Shorthand to settings: `arg` is what follows `KIND:`; the sink takes
    /// its own options from `opts`. Options left over are an error naming
    /// the sink and the option.
    fn shorthand(
        kind: &str,
        arg: Option<&str>,
        opts: &mut Options<'_>,
    ) -> Result<Self::Settings, String>;
    /// Settings (from either front end) and the shared options to the config.
    fn resolve(kind: &str, settings: Self::Settings, shared: Shared) -> Result<Self, String>;
}

type ShorthandFn = fn(&str, Option<&str>, &mut Options<'_>, Shared) -> Result<SinkConfig, String>;
type TypedFn = fn(&str, Map<String, Value>, Shared) -> Result<SinkConfig, String>;

/// One registered sink: its names and its two front-end entry points.
pub(super) struct Kind {
    /// Kind names.
    pub names: &'static [&'static str],
    /// Whether the disk-buffer options apply.
    pub buffered: bool,
    /// From the shorthand.
    pub shorthand: ShorthandFn,
    /// From the typed map (`type` and shared options removed).
    pub typed: TypedFn,
}

impl Kind {
    /// The table entry of `T`.
    pub(super) const fn of<T: SinkKind>() -> Kind {
        Kind {
            names: T::NAMES,
            buffered: T::BUFFERED,
            shorthand: from_shorthand::<T>,
            typed: from_map::<T>,
        }
    }
}

fn from_shorthand<T: SinkKind>(
    kind: &str,
    arg: Option<&str>,
    opts: &mut Options<'_>,
    shared: Shared,
) -> Result<SinkConfig, String> {
    let settings = T::shorthand(kind, arg, opts)?;
    opts.finish(kind)?;
    T::resolve(kind, settings, shared).map(Into::into)
}

fn from_map<T: SinkKind>(
    kind: &str,
    map: Map<String, Value>,
    shared: Shared,
) -> Result<SinkConfig, String> {
    let settings: T::Settings =
        serde_json::from_value(Value::Object(map)).map_err(|e| format!("{kind}: {e}"))?;
    T::resolve(kind, settings, shared).map(Into::into)
}

/// The registered sink answering to `name`.
pub(super) fn lookup(name: &str) -> Option<&'static Kind> {
    super::KINDS.iter().find(|k| k.names.contains(&name))
}

/// Every kind name, for error messages.
pub(super) fn names() -> String {
    super::KINDS
        .iter()
        .flat_map(|k| k.names.iter().copied())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Registers sinks, one line each: `Variant(module::Config)`. Declares the
/// module (`sinks/module/`), the [`SinkConfig`] variant wrapping its config,
/// `From<Config> for SinkConfig`, and the table entry.
macro_rules! sinks {
    ($( $(#[$doc:meta])* $variant:ident($module:ident::$config:ident), )*) => {
        $( pub mod $module; )*

        /// Configuration of one sink: each variant wraps the typed config
        /// of the sink in its own directory.
        #[derive(Debug, Clone, PartialEq)]
        pub enum SinkConfig {
            $( $(#[$doc])* $variant($module::$config), )*
        }

        $(
            impl From<$module::$config> for SinkConfig {
                fn from(c: $module::$config) -> SinkConfig {
                    SinkConfig::$variant(c)
                }
            }
        )*

        impl SinkConfig {
            /// The configured sink, whatever its kind.
            pub fn component(&self) -> &dyn registry::Component {
                match self {
                    $( SinkConfig::$variant(c) => c, )*
                }
            }
        }

        /// Every registered sink, in registration order.
        const KINDS: &[registry::Kind] = &[ $( registry::Kind::of::<$module::$config>(), )* ];
    };
}
pub(super) use sinks;
