//! The evaluator's fast path: text fields borrowed straight from the
//! context, without building a [`Value`](crate::context::Value).

use super::extract::{argv0_of, cwd_of, evt_type, exepath_of, name_of, split_dir};
use super::{Bound, Fid, FieldArg};
use crate::context::{Context, ProcessView};
use peregrine_event::EventData;
use std::borrow::Cow;

/// A text field's value borrowed from the context, without building a
/// [`Value`]: the evaluator's fast path for the fields most conditions test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text<'c> {
    /// The field's value.
    Str(&'c str),
    /// The field has no value for this event (every check on it is false).
    Absent,
    /// Not a plain text field here: use [`extract`](super::extract).
    Other,
}

/// The value of `b` when it is plain text borrowed from `ctx`; agrees with
/// [`extract`](super::extract) wherever it returns `Str` or `Absent`.
pub fn extract_text<'c>(b: &Bound, ctx: &'c dyn Context) -> Text<'c> {
    if b.arg != FieldArg::None {
        return Text::Other;
    }
    let proc_str = |level: usize, f: fn(&ProcessView) -> &str| match ctx.process(level) {
        Some(Cow::Borrowed(p)) => Text::Str(f(p)),
        None if level > 0 => Text::Absent,
        // Owned, or level 0 built from the event itself by `extract`.
        _ => Text::Other,
    };
    let cmdline_str = |level: usize| match ctx.process(level) {
        Some(Cow::Borrowed(p)) if !p.cmdline.is_empty() => Text::Str(p.cmdline.as_str()),
        None if level > 0 => Text::Absent,
        _ => Text::Other,
    };
    let ev = ctx.event();
    match b.def.id {
        Fid::EvtType => Text::Str(evt_type(ctx)),
        Fid::ProcName => proc_str(0, name_of),
        Fid::ProcExe => proc_str(0, argv0_of),
        Fid::ProcExePath => proc_str(0, exepath_of),
        Fid::ProcCwd => proc_str(0, cwd_of),
        Fid::ProcCmdline => cmdline_str(0),
        Fid::ProcPname => proc_str(1, name_of),
        Fid::ProcPexe => proc_str(1, argv0_of),
        Fid::ProcPexePath => proc_str(1, exepath_of),
        Fid::ProcPcmdline => cmdline_str(1),
        Fid::FdName => match &ev.data {
            EventData::File(f) => Text::Str(f.path.as_str()),
            EventData::Net(x) if !x.name.is_empty() => Text::Str(x.name.as_str()),
            _ => Text::Other,
        },
        Fid::FdNameRaw => ev
            .file()
            .map_or(Text::Absent, |f| Text::Str(f.raw_path.as_str())),
        Fid::FdDirectory | Fid::FdFilename => match ev.file() {
            Some(f) => {
                let (d, name) = split_dir(&f.path);
                Text::Str(if b.def.id == Fid::FdDirectory {
                    d
                } else {
                    name
                })
            }
            None => Text::Absent,
        },
        _ => Text::Other,
    }
}
