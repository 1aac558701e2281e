//! The field catalogue: every `%field` and condition field, its type, its
//! argument, and how it is computed from our event model.

mod args;
mod extract;
pub mod k8saudit;
mod text;

pub use extract::extract;
pub use text::{extract_text, Text};

/// Type of a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Text.
    Str,
    /// Integer.
    Num,
    /// Boolean.
    Bool,
    /// IP address (compares with addresses and CIDR networks).
    Ip,
}

/// What goes between the brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// No argument.
    None,
    /// Optional number (`proc.aname[2]`; without it: any ancestor).
    OptIndex,
    /// Required key (`container.mount.dest[/path]`).
    Key,
    /// Optional key (`proc.env[HOME]`).
    OptKey,
    /// Name or index (`evt.arg.flags`, `evt.arg[0]`).
    ArgName,
}

/// One field of the catalogue.
#[derive(Debug)]
pub struct FieldDef {
    /// Name.
    pub name: &'static str,
    /// Value type.
    pub ty: FieldType,
    /// Argument.
    pub arg: ArgKind,
    /// What it is.
    pub desc: &'static str,
    pub(crate) id: Fid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fid {
    EvtType,
    EvtDir,
    EvtNum,
    EvtTime,
    EvtRawTime,
    EvtHostname,
    EvtRes,
    EvtRawRes,
    EvtFailed,
    EvtArgs,
    EvtArg,
    EvtIsOpenRead,
    EvtIsOpenWrite,
    EvtIsOpenExec,
    EvtBuffer,
    EvtCategory,
    ProcName,
    ProcExe,
    ProcExePath,
    ProcArgs,
    ProcArgv,
    ProcCmdline,
    ProcPid,
    ProcPpid,
    ProcVpid,
    ProcPname,
    ProcPexe,
    ProcPexePath,
    ProcPcmdline,
    ProcAname,
    ProcAexe,
    ProcAexePath,
    ProcApid,
    ProcAcmdline,
    ProcTty,
    ProcSid,
    ProcSname,
    ProcCwd,
    ProcEnv,
    ProcDuration,
    ProcPpidDuration,
    ProcIsExeUpperLayer,
    ProcIsExeFromMemfd,
    ProcExeIno,
    ProcExeInoCtime,
    ProcExeInoMtime,
    ProcExeInoCtimeDur,
    ProcIsVpgidLeader,
    ProcVpgid,
    ProcVpgidName,
    ProcVpgidExe,
    ProcPgid,
    ThreadTid,
    ThreadCapEff,
    ThreadCapPerm,
    ThreadCapInh,
    UserUid,
    UserEuid,
    UserPrevUid,
    UserPrevEuid,
    UserName,
    UserLoginUid,
    UserLoginName,
    GroupGid,
    GroupName,
    FdNum,
    FdType,
    FdTypeChar,
    FdName,
    FdNameRaw,
    FdDirectory,
    FdFilename,
    FdIp,
    FdCip,
    FdSip,
    FdLip,
    FdRip,
    FdPort,
    FdCport,
    FdSport,
    FdLport,
    FdRport,
    FdL4Proto,
    FdSockFamily,
    FdNet,
    FdCnet,
    FdSnet,
    FdLnet,
    FdRnet,
    FdConnected,
    FdNameChanged,
    FdTypes,
    FdCipName,
    FdSipName,
    FdLipName,
    FdRipName,
    FdIno,
    FdDev,
    CtId,
    CtFullId,
    CtName,
    CtImage,
    CtImageRepo,
    CtImageTag,
    CtImageId,
    CtPrivileged,
    CtMounts,
    CtMountDest,
    CtMountSource,
    CtStartTs,
    CtType,
    CtLabel,
    K8sNsName,
    K8sPodName,
    K8sPodUid,
    K8sPodLabel,
    K8sPodLabels,
    /// Owners of the pod (from the API server): name and uid per kind.
    K8sDeploymentName,
    K8sDeploymentUid,
    K8sRsName,
    K8sRsUid,
    K8sRcName,
    K8sRcUid,
    /// The pod's top controller kind / name.
    K8sWorkloadKind,
    K8sWorkloadName,
    K8sAudit(k8saudit::KaId),
}

macro_rules! fields {
    ($($name:literal, $ty:ident, $arg:ident, $id:ident, $desc:literal;)*) => {
        /// Every field, in documentation order.
        pub static FIELDS: &[FieldDef] = &[
            $(FieldDef { name: $name, ty: FieldType::$ty, arg: ArgKind::$arg, desc: $desc, id: Fid::$id },)*
        ];
    };
}

fields! {
    "evt.type", Str, None, EvtType, "Syscall name (execve, openat, connect…; clone for process creation, procexit for exit).";
    "evt.dir", Str, None, EvtDir, "Direction: always `<` (Peregrine records exits, with results).";
    "evt.num", Num, None, EvtNum, "Sequence number of the event.";
    "evt.time", Str, None, EvtTime, "Time as HH:MM:SS.nnnnnnnnn (UTC).";
    "evt.rawtime", Num, None, EvtRawTime, "Time, ns since the epoch.";
    "evt.hostname", Str, None, EvtHostname, "Host name.";
    "evt.res", Str, None, EvtRes, "SUCCESS or the errno name (ENOENT…).";
    "evt.rawres", Num, None, EvtRawRes, "Raw return value.";
    "evt.failed", Bool, None, EvtFailed, "The syscall returned an error.";
    "evt.args", Str, None, EvtArgs, "All arguments as name=value pairs.";
    "evt.arg", Str, ArgName, EvtArg, "One argument by name (evt.arg.flags) or index (evt.arg[0]).";
    "evt.is_open_read", Bool, None, EvtIsOpenRead, "An open for reading.";
    "evt.is_open_write", Bool, None, EvtIsOpenWrite, "An open for writing.";
    "evt.is_open_exec", Bool, None, EvtIsOpenExec, "An open with O_PATH/exec intent (always false: not observable from open flags).";
    "evt.buffer", Str, None, EvtBuffer, "I/O buffer (not captured: absent).";
    "evt.category", Str, None, EvtCategory, "Category: process, file, network, privilege, namespace, kernel.";
    "proc.name", Str, None, ProcName, "Process name (comm).";
    "proc.exe", Str, None, ProcExe, "argv[0].";
    "proc.exepath", Str, None, ProcExePath, "Full path of the executable.";
    "proc.args", Str, None, ProcArgs, "Arguments after argv[0], space separated.";
    "proc.argv", Str, OptIndex, ProcArgv, "argv[N] as passed to execve (Peregrine extension; without an index: any argument).";
    "proc.cmdline", Str, None, ProcCmdline, "Name and arguments.";
    "proc.pid", Num, None, ProcPid, "Process id.";
    "proc.ppid", Num, None, ProcPpid, "Parent process id.";
    "proc.vpid", Num, None, ProcVpid, "Process id in its pid namespace.";
    "proc.pname", Str, None, ProcPname, "Parent's name.";
    "proc.pexe", Str, None, ProcPexe, "Parent's argv[0].";
    "proc.pexepath", Str, None, ProcPexePath, "Parent's executable path.";
    "proc.pcmdline", Str, None, ProcPcmdline, "Parent's command line.";
    "proc.aname", Str, OptIndex, ProcAname, "Name of ancestor N (1 = parent); without N any ancestor.";
    "proc.aexe", Str, OptIndex, ProcAexe, "argv[0] of ancestor N; without N any ancestor.";
    "proc.aexepath", Str, OptIndex, ProcAexePath, "Executable path of ancestor N; without N any ancestor.";
    "proc.apid", Num, OptIndex, ProcApid, "Pid of ancestor N; without N any ancestor.";
    "proc.acmdline", Str, OptIndex, ProcAcmdline, "Command line of ancestor N; without N any ancestor.";
    "proc.tty", Num, None, ProcTty, "Controlling terminal, 0 if none.";
    "proc.sid", Num, None, ProcSid, "Session id.";
    "proc.sname", Str, None, ProcSname, "Name of the session leader.";
    "proc.cwd", Str, None, ProcCwd, "Working directory.";
    "proc.env", Str, OptKey, ProcEnv, "Environment at exec (or one variable, proc.env[NAME]); copied by the sensor (up to 4 KiB) only when a loaded rule reads it; absent for processes whose exec was not seen.";
    "proc.duration", Num, None, ProcDuration, "Nanoseconds since the process started.";
    "proc.ppid.duration", Num, None, ProcPpidDuration, "Nanoseconds since the parent started.";
    "proc.is_exe_upper_layer", Bool, None, ProcIsExeUpperLayer, "Executable in the container's overlayfs upper layer: written after the container started, not part of its image (absent on the host and for non-overlay roots).";
    "proc.is_exe_from_memfd", Bool, None, ProcIsExeFromMemfd, "Executable is a memfd (fileless execution).";
    "proc.exe_ino", Num, None, ProcExeIno, "Inode of the executable.";
    "proc.exe_ino.ctime", Num, None, ProcExeInoCtime, "Status-change time of the executable at exec, ns since the epoch.";
    "proc.exe_ino.mtime", Num, None, ProcExeInoMtime, "Modification time of the executable at exec, ns since the epoch.";
    "proc.exe_ino.ctime_duration_proc_start", Num, None, ProcExeInoCtimeDur, "Nanoseconds from the executable's ctime to the process start (a binary changed just before it ran).";
    "proc.is_vpgid_leader", Bool, None, ProcIsVpgidLeader, "The process leads its process group.";
    "proc.vpgid", Num, None, ProcVpgid, "Process group id.";
    "proc.vpgid.name", Str, None, ProcVpgidName, "Name of the process group leader.";
    "proc.vpgid.exe", Str, None, ProcVpgidExe, "argv[0] of the process group leader.";
    "proc.pgid", Num, None, ProcPgid, "Process group id.";
    "thread.tid", Num, None, ThreadTid, "Thread id.";
    "thread.cap_effective", Str, None, ThreadCapEff, "Effective capabilities (CAP_… names).";
    "thread.cap_permitted", Str, None, ThreadCapPerm, "Permitted capabilities.";
    "thread.cap_inheritable", Str, None, ThreadCapInh, "Inheritable capabilities.";
    "user.uid", Num, None, UserUid, "Real user id.";
    "user.euid", Num, None, UserEuid, "Effective user id (Peregrine extension).";
    "user.prev_uid", Num, None, UserPrevUid, "setuid family: the real user id before the call (user.uid is the one after); absent for other events and when the process was not known before the call (Peregrine extension).";
    "user.prev_euid", Num, None, UserPrevEuid, "setuid family: the effective user id before the call (Peregrine extension).";
    "user.name", Str, None, UserName, "User name.";
    "user.loginuid", Num, None, UserLoginUid, "Audit login uid (-1 when unset).";
    "user.loginname", Str, None, UserLoginName, "Name of the login user.";
    "group.gid", Num, None, GroupGid, "Group id.";
    "group.name", Str, None, GroupName, "Group name.";
    "fd.num", Num, None, FdNum, "File descriptor number.";
    "fd.type", Str, None, FdType, "file, directory, ipv4, ipv6, unix, memfd.";
    "fd.typechar", Str, None, FdTypeChar, "f, d (directory), 4, 6, u.";
    "fd.name", Str, None, FdName, "Absolute path, or the connection tuple for sockets.";
    "fd.nameraw", Str, None, FdNameRaw, "Path as given to the syscall.";
    "fd.directory", Str, None, FdDirectory, "Directory of fd.name.";
    "fd.filename", Str, None, FdFilename, "File name of fd.name.";
    "fd.ip", Ip, None, FdIp, "Either address of the connection.";
    "fd.cip", Ip, None, FdCip, "Client address.";
    "fd.sip", Ip, None, FdSip, "Server address.";
    "fd.lip", Ip, None, FdLip, "Local address.";
    "fd.rip", Ip, None, FdRip, "Remote address.";
    "fd.port", Num, None, FdPort, "Either port of the connection.";
    "fd.cport", Num, None, FdCport, "Client port.";
    "fd.sport", Num, None, FdSport, "Server port.";
    "fd.lport", Num, None, FdLport, "Local port.";
    "fd.rport", Num, None, FdRport, "Remote port.";
    "fd.l4proto", Str, None, FdL4Proto, "tcp, udp, raw.";
    "fd.sockfamily", Str, None, FdSockFamily, "ip or unix.";
    "fd.net", Ip, None, FdNet, "Either address, compared with a network (10.0.0.0/8).";
    "fd.cnet", Ip, None, FdCnet, "Client address, compared with a network.";
    "fd.snet", Ip, None, FdSnet, "Server address, compared with a network.";
    "fd.lnet", Ip, None, FdLnet, "Local address, compared with a network.";
    "fd.rnet", Ip, None, FdRnet, "Remote address, compared with a network.";
    "fd.connected", Bool, None, FdConnected, "Socket is connected.";
    "fd.name_changed", Bool, None, FdNameChanged, "The fd name changed in this event (false).";
    "fd.types", Str, OptIndex, FdTypes, "Types of the fds of the event.";
    "fd.cip.name", Str, None, FdCipName, "Domain name of the client (absent: no DNS tracking yet).";
    "fd.sip.name", Str, None, FdSipName, "Domain name of the server (absent).";
    "fd.lip.name", Str, None, FdLipName, "Domain name of the local address (absent).";
    "fd.rip.name", Str, None, FdRipName, "Domain name of the remote address (absent).";
    "fd.ino", Num, None, FdIno, "Inode of the file.";
    "fd.dev", Num, None, FdDev, "Device of the file.";
    "container.id", Str, None, CtId, "Container id (12 characters), `host` on the host.";
    "container.full_id", Str, None, CtFullId, "Full container id, `host` on the host.";
    "container.name", Str, None, CtName, "Container name, `host` on the host.";
    "container.image", Str, None, CtImage, "Image as given.";
    "container.image.repository", Str, None, CtImageRepo, "Image repository.";
    "container.image.tag", Str, None, CtImageTag, "Image tag.";
    "container.image.id", Str, None, CtImageId, "Image id.";
    "container.privileged", Bool, None, CtPrivileged, "Privileged container.";
    "container.mounts", Str, None, CtMounts, "Mounts as source:dest:mode:rw, comma separated.";
    "container.mount.dest", Str, Key, CtMountDest, "Mount whose destination is the argument (source:dest:mode:rw).";
    "container.mount.source", Str, Key, CtMountSource, "Mount whose source is the argument.";
    "container.start_ts", Num, None, CtStartTs, "Container start, ns since the epoch.";
    "container.type", Str, None, CtType, "Runtime: docker, containerd, cri-o; host.";
    "container.label", Str, Key, CtLabel, "A container label.";
    "k8s.ns.name", Str, None, K8sNsName, "Kubernetes namespace.";
    "k8s.pod.name", Str, None, K8sPodName, "Kubernetes pod name.";
    "k8s.pod.uid", Str, None, K8sPodUid, "Kubernetes pod uid.";
    "k8s.pod.label", Str, Key, K8sPodLabel, "A pod label.";
    "k8s.pod.labels", Str, None, K8sPodLabels, "All pod labels, key:value comma separated.";
    "k8smeta.pod.name", Str, None, K8sPodName, "Kubernetes pod name (Falco's k8smeta plugin name).";
    "k8smeta.pod.uid", Str, None, K8sPodUid, "Kubernetes pod uid.";
    "k8smeta.pod.label", Str, Key, K8sPodLabel, "A pod label.";
    "k8smeta.pod.labels", Str, None, K8sPodLabels, "All pod labels, key:value comma separated.";
    "k8smeta.ns.name", Str, None, K8sNsName, "Kubernetes namespace.";
    "k8smeta.deployment.name", Str, None, K8sDeploymentName, "Deployment owning the pod (API server).";
    "k8smeta.deployment.uid", Str, None, K8sDeploymentUid, "Its uid.";
    "k8smeta.rs.name", Str, None, K8sRsName, "ReplicaSet owning the pod (API server).";
    "k8smeta.rs.uid", Str, None, K8sRsUid, "Its uid.";
    "k8smeta.rc.name", Str, None, K8sRcName, "ReplicationController owning the pod.";
    "k8smeta.rc.uid", Str, None, K8sRcUid, "Its uid.";
    "k8s.workload.kind", Str, None, K8sWorkloadKind, "Kind of the pod's top controller (Deployment, DaemonSet, StatefulSet, CronJob, Job, …; API server).";
    "k8s.workload.name", Str, None, K8sWorkloadName, "Name of the pod's top controller (API server).";
}

/// The argument of a bound field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldArg {
    /// None.
    None,
    /// A number.
    Index(usize),
    /// A key.
    Key(String),
}

/// A field resolved from its name and argument.
#[derive(Debug, Clone)]
pub struct Bound {
    /// Definition.
    pub def: &'static FieldDef,
    /// Argument.
    pub arg: FieldArg,
}

/// Look a field up by name.
pub fn lookup(name: &str) -> Option<&'static FieldDef> {
    FIELDS
        .iter()
        .find(|f| f.name == name)
        .or_else(|| k8saudit::lookup(name))
}

/// Split a field as written in YAML (`proc.aname[2]`, `fd.name`) into its
/// name and argument; an unclosed or misplaced `[` is an error.
pub fn split_field(text: &str) -> Result<(&str, Option<&str>), String> {
    match text.find('[') {
        None if text.contains(']') => Err(format!("unexpected ']' in field '{text}'")),
        None => Ok((text, None)),
        Some(i) => match text[i + 1..].strip_suffix(']') {
            Some(arg) if !arg.contains(['[', ']']) => Ok((&text[..i], Some(arg))),
            _ => Err(format!("field '{text}': expected NAME[ARG]")),
        },
    }
}

/// Resolve `name[arg]` (also `evt.arg.NAME`). Errors name what is wrong.
pub fn bind(name: &str, arg: Option<&str>) -> Result<Bound, String> {
    if let Some(rest) = name.strip_prefix("evt.arg.") {
        if arg.is_some() || rest.is_empty() {
            return Err(format!("invalid field '{name}'"));
        }
        return Ok(Bound {
            def: lookup("evt.arg").expect("evt.arg in catalogue"),
            arg: FieldArg::Key(rest.to_string()),
        });
    }
    let def = lookup(name).ok_or_else(|| format!("unknown field '{name}'"))?;
    let arg = match (def.arg, arg) {
        (ArgKind::None, None) => FieldArg::None,
        (ArgKind::None, Some(a)) => {
            return Err(format!("field '{name}' takes no argument (got [{a}])"))
        }
        (ArgKind::OptIndex, None) | (ArgKind::OptKey, None) => FieldArg::None,
        (ArgKind::OptIndex, Some(a)) => FieldArg::Index(
            a.trim()
                .parse()
                .map_err(|_| format!("field '{name}' takes a number in brackets, not '{a}'"))?,
        ),
        (ArgKind::Key, None) => return Err(format!("field '{name}' needs an argument: {name}[…]")),
        (ArgKind::Key, Some(a)) | (ArgKind::OptKey, Some(a)) => FieldArg::Key(a.to_string()),
        (ArgKind::ArgName, None) => {
            return Err(format!(
                "field '{name}' needs an argument: {name}[N] or {name}.NAME"
            ))
        }
        (ArgKind::ArgName, Some(a)) => match a.trim().parse() {
            Ok(i) => FieldArg::Index(i),
            Err(_) => FieldArg::Key(a.to_string()),
        },
    };
    Ok(Bound { def, arg })
}
