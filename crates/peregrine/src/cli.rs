//! Command-line surface.
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Peregrine: runtime security and analysis for Linux.
#[derive(Debug, Parser)]
#[command(name = "peregrine", version, about)]
pub struct Cli {
    /// Log level (error, warn, info, debug, trace); PEREGRINE_LOG overrides.
    #[arg(long, global = true, default_value = "warn")]
    pub log_level: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stream decoded kernel events.
    Capture(CaptureArgs),
    /// Work with rule files.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Run the agent: watch the host, evaluate rules, send alerts.
    Agent(AgentArgs),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Record kernel activity to a capture file.
    Record(RecordArgs),
    /// Evaluate rules against a capture file.
    Replay(ReplayArgs),
    /// Run a command under monitoring; fail when an alert fires.
    Ci(CiArgs),
    /// Trace a command (or attach to processes) without eBPF: ptrace and
    /// seccomp, the agent's rules and outputs.
    Trace(TraceArgs),
    /// Run the server: ingest from agents, store, HTTP API, dashboard.
    Server(ServerArgs),
    /// All in one: agent + server + dashboard on this host (127.0.0.1).
    Run(RunArgs),
    /// Train and evaluate the syscall-sequence anomaly model.
    #[command(subcommand)]
    Model(crate::model::ModelCommand),
    /// Behaviour profiles: show, switch to monitor, export as rules.
    #[command(subcommand)]
    Profile(crate::profile::ProfileCommand),
}

/// Where the server keeps data and how it listens.
#[derive(Debug, Args, Clone)]
pub struct ServerOpts {
    /// Address to listen on (use a routable address only with TLS).
    #[arg(long, default_value = "127.0.0.1:8470")]
    pub listen: std::net::SocketAddr,
    /// Data directory (SQLite database, admin token).
    #[arg(long, default_value = "/var/lib/peregrine")]
    pub data_dir: PathBuf,
    /// Store: a SQLite path or postgres://USER:PASS@HOST/DB
    /// (default: DATA_DIR/peregrine.db).
    #[arg(long, env = "PEREGRINE_STORE")]
    pub store: Option<String>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Delete alerts older than this many days (0: keep).
    #[arg(long, default_value_t = 30)]
    pub retention_days: i64,
    /// Keep at most this many alerts (0: no limit).
    #[arg(long, default_value_t = 5_000_000)]
    pub retention_max_alerts: u64,
    /// Keep the alert tables under this many MiB (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub retention_max_mb: u64,
    /// Also redact what this regular expression matches in alerts before
    /// they are stored (its group named `secret`, else the whole match);
    /// secrets in NAME=value, JSON, --password options, Authorization
    /// headers and AWS key ids are redacted by default. Repeatable.
    #[arg(long = "redact", value_name = "REGEX")]
    pub redact: Vec<String>,
}

/// `peregrine server`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServerArgs {
    /// Listening and storage.
    #[command(flatten)]
    pub opts: ServerOpts,
    /// Write a line "ready URL" on stderr once listening (for scripts).
    #[arg(long)]
    pub ready: bool,
    /// Token management.
    #[command(subcommand)]
    pub command: Option<ServerCommand>,
}

/// `peregrine server …`.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `peregrine server token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (shown once; only its hash is stored).
    Add {
        /// Name (for agent tokens: the agent name alerts are filed under).
        name: String,
        /// agent (ship alerts), viewer (read) or admin (read + triage).
        #[arg(long, default_value = "agent")]
        role: String,
        /// Store (default: DATA_DIR/peregrine.db).
        #[arg(long, env = "PEREGRINE_STORE")]
        store: Option<String>,
        /// Data directory.
        #[arg(long, default_value = "/var/lib/peregrine")]
        data_dir: PathBuf,
    },
    /// List token names and roles.
    List {
        /// Store.
        #[arg(long, env = "PEREGRINE_STORE")]
        store: Option<String>,
        /// Data directory.
        #[arg(long, default_value = "/var/lib/peregrine")]
        data_dir: PathBuf,
    },
    /// Revoke every token with this name.
    Revoke {
        /// Name.
        name: String,
        /// Store.
        #[arg(long, env = "PEREGRINE_STORE")]
        store: Option<String>,
        /// Data directory.
        #[arg(long, default_value = "/var/lib/peregrine")]
        data_dir: PathBuf,
    },
}

/// `peregrine run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Server side.
    #[command(flatten)]
    pub server: ServerOpts,
    /// Agent side.
    #[command(flatten)]
    pub agent: AgentArgs,
}

/// `peregrine ci`.
#[derive(Debug, Args)]
pub struct CiArgs {
    /// Rule files or directories (default: the embedded default ruleset).
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Without --rules, fail instead of using the embedded default ruleset.
    #[arg(long)]
    pub no_default_rules: bool,
    /// Fail when an alert at or above this priority fires.
    #[arg(long, default_value = "warning")]
    pub fail_on: String,
    /// Write a SARIF 2.1.0 report.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Docker Engine API socket, for the containers the command starts and
    /// their metadata (default /var/run/docker.sock, followed only when it
    /// is there; a socket named here that cannot be reached is an error).
    #[arg(long, value_name = "PATH")]
    pub docker_socket: Option<PathBuf>,
    /// Learn the command's behaviour (programs, exec edges, file prefixes,
    /// peers, ports, users) into DIR as behaviour profiles: a baseline.
    #[arg(long, value_name = "DIR", conflicts_with = "baseline")]
    pub learn_baseline: Option<PathBuf>,
    /// Compare with the baseline in DIR (from --learn-baseline): what the
    /// command never did there raises a drift alert and fails the build at
    /// or above --fail-on. DIR is not modified.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// The command to run (after --).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `peregrine trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Rule files.
    #[arg(long = "rules", value_name = "FILE", required = true)]
    pub rules: Vec<PathBuf>,
    /// Alert output (repeatable), as for `peregrine agent` (default stdout).
    #[arg(long = "output", value_name = "SPEC")]
    pub outputs: Vec<String>,
    /// Attach to this running process and its descendants instead of
    /// running a command (repeatable; PTRACE_SEIZE; detached on SIGINT).
    #[arg(long = "pid", visible_alias = "attach-pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Attach to every process tree of the pid namespace except this one
    /// (and a pod's `pause`), and to new ones as they start: a pod sidecar
    /// with `shareProcessNamespace: true`.
    #[arg(long, conflicts_with = "pids")]
    pub attach_all: bool,
    /// Stop on every syscall instead of installing the seccomp filter.
    #[arg(long)]
    pub no_seccomp: bool,
    /// Aggregate identical alerts within this many seconds; 0 disables.
    #[arg(long)]
    pub dedup_window: Option<u64>,
    /// At most this many alerts per second per rule; 0: unlimited.
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Serve Prometheus metrics here.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The command to run (after --).
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `peregrine record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Capture file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Stop after this many seconds (without a command: until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Capture only what these rule files need (default: everything).
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Ring buffer size in MiB.
    #[arg(long, default_value_t = 16)]
    pub ring_mib: u32,
    /// Run this command and record until it exits.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `peregrine replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Capture file.
    #[arg(required_unless_present = "k8s_audit", conflicts_with = "k8s_audit")]
    pub file: Option<PathBuf>,
    /// Replay a Kubernetes audit log (JSON lines) through the k8s_audit
    /// rules instead of a capture.
    #[arg(long, value_name = "FILE")]
    pub k8s_audit: Option<PathBuf>,
    /// Rule files or directories (default: the embedded default ruleset).
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Without --rules, fail instead of using the embedded default ruleset.
    #[arg(long)]
    pub no_default_rules: bool,
    /// Alerts as JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// `peregrine config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file (and the rules and outputs it names).
    Check {
        /// The file.
        file: PathBuf,
    },
}

/// `peregrine agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// YAML configuration file (flags and PEREGRINE_* variables override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Falco's configuration file (falco.yaml, with its config_files such
    /// as config.d/): its rules_files, outputs, json_output and priority
    /// are used; keys without a Peregrine equivalent are listed in one
    /// warning. Flags and PEREGRINE_* variables override it.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub falco_config: Option<PathBuf>,
    /// Rule files or directories (every *.yaml/*.yml in it, in lexical
    /// order), loaded in order (repeatable); `builtin:` is the embedded
    /// default ruleset, used when no rules are given.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Without rules from flags, file or environment, fail instead of using
    /// the embedded default ruleset.
    #[arg(long)]
    pub no_default_rules: bool,
    /// Alert output (repeatable; default stdout): stdout | stdout:json |
    /// file:PATH | webhook:URL | slack:URL | elasticsearch:URL | splunk:URL |
    /// loki:URL | syslog:udp|tcp|unix://… | program:COMMAND, with options
    /// ,min=PRIORITY …
    #[arg(long = "output", value_name = "SPEC")]
    pub outputs: Vec<String>,
    /// Docker Engine API socket.
    #[arg(long)]
    pub docker_socket: Option<PathBuf>,
    /// containerd API socket, asked for containers Docker does not know
    /// (Kubernetes, ctr, nerdctl).
    #[arg(long)]
    pub containerd_socket: Option<PathBuf>,
    /// Ring buffer size in MiB.
    #[arg(long)]
    pub ring_mib: Option<u32>,
    /// Rule worker threads, events partitioned by process (0: automatic —
    /// inline on the state thread below four cores, else half the cores).
    #[arg(long, env = "PEREGRINE_WORKERS", value_parser = clap::value_parser!(u16).range(0..=64))]
    pub workers: Option<u16>,
    /// BTF file to use instead of /sys/kernel/btf/vmlinux.
    #[arg(long)]
    pub btf: Option<PathBuf>,
    /// Write a line "ready" on stderr once attached (for scripts).
    #[arg(long)]
    pub ready: bool,
    /// Address of the Prometheus /metrics and /healthz endpoint
    /// (default 127.0.0.1:9376).
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Do not serve metrics.
    #[arg(long)]
    pub no_metrics: bool,
    /// Aggregate identical alerts (same rule and key fields) within this
    /// many seconds; 0 disables.
    #[arg(long)]
    pub dedup_window: Option<u64>,
    /// Fields that make two alerts identical (default: every output field
    /// except pids, fds, ports and times); repeatable.
    #[arg(long = "dedup-field")]
    pub dedup_fields: Vec<String>,
    /// At most this many alerts per second per rule; 0: unlimited.
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Carry out the rules' response actions (`actions:` — block, kill,
    /// kill_tree, quarantine). Without it (or `response: {mode: enforce}`
    /// in --config) the agent monitors: actions are reported, not done.
    #[arg(long)]
    pub enforce: bool,
    /// Push the agent's metrics to this OpenTelemetry collector endpoint
    /// (`http://host:4318/v1/metrics`, or `http://host:4317` with
    /// `--metrics-otlp-protocol grpc`).
    #[arg(long, value_name = "URL")]
    pub metrics_otlp: Option<String>,
    /// `http` (protobuf body, default) or `grpc`.
    #[arg(long, value_name = "PROTOCOL", value_parser = ["http", "grpc"])]
    pub metrics_otlp_protocol: Option<String>,
    /// Write the agent's metrics as CloudWatch Embedded Metric Format lines
    /// to this file (`-`: stdout) for the CloudWatch agent.
    #[arg(long, value_name = "PATH")]
    pub metrics_emf: Option<PathBuf>,
    /// Seconds between metric exports (OTLP, EMF); default 60.
    #[arg(long, value_name = "SECS")]
    pub metrics_interval: Option<u64>,
    /// Ship alerts, heartbeats and rules to this Peregrine server
    /// (https://HOST:8470); alerts are buffered on disk while it is away.
    #[arg(long, value_name = "URL", env = "PEREGRINE_SERVER")]
    pub server: Option<String>,
    /// Agent token for --server (`peregrine server token add NAME`).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PEREGRINE_SERVER_TOKEN",
        hide_env_values = true
    )]
    pub server_token: Option<String>,
    /// Extra CA certificate (PEM) the server's certificate is signed by.
    #[arg(long, value_name = "FILE")]
    pub server_ca: Option<PathBuf>,
    /// Disk buffer for alerts bound for the server.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/peregrine/buffer/server"
    )]
    pub server_buffer: PathBuf,
    /// Kubernetes audit source.
    #[command(flatten)]
    pub k8s_audit: crate::k8s_audit::K8sAuditArgs,
    /// Behaviour profiles: learn what each container image (else host
    /// executable) does, saved in DIR and loaded at start; drift alerts once
    /// a profile is monitored.
    #[arg(long, value_name = "DIR")]
    pub profiles_dir: Option<PathBuf>,
    /// Seconds without a new item before a learning profile is monitored
    /// (default 3600; 0: never automatically). Turns profiles on.
    #[arg(long, value_name = "SECS")]
    pub profile_learn_secs: Option<u64>,
    /// `monitor`: every saved profile is monitored from the start (the
    /// manual switch); `learn` (default): saved profiles keep their state.
    #[arg(long, value_name = "MODE", value_parser = ["learn", "monitor"])]
    pub profile_mode: Option<String>,
    /// Live anomaly model.
    #[command(flatten)]
    pub model: crate::model_live::ModelArgs,
}

/// `peregrine rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check rule files like a compiler: every error with file:line:column.
    Validate(ValidateArgs),
    /// Run the tests embedded in rule files (`tests:` of each rule).
    Test(ValidateArgs),
    /// Write the embedded default ruleset into DIR, to edit and load with
    /// `--rules DIR` (existing files are kept unless --force).
    DumpDefaults {
        /// Directory (created when missing).
        dir: PathBuf,
        /// Overwrite files that exist.
        #[arg(long)]
        force: bool,
    },
    /// Convert Sigma rules (Linux process_creation, file_event,
    /// network_connection) into Falco-language rules; report what could not
    /// be converted and why.
    ImportSigma {
        /// Directories (searched recursively) or files of Sigma rules.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Write the rules here (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Write the full report (every skipped file and why) here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Print the field catalogue (Markdown table with --markdown).
    Fields {
        /// Markdown table.
        #[arg(long)]
        markdown: bool,
    },
}

/// `peregrine rules validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Rule files or directories, loaded in order (later files refine
    /// earlier ones); `builtin:` is the embedded default ruleset.
    #[arg(required = true, value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Also print warnings.
    #[arg(long, short)]
    pub warnings: bool,
}

/// `peregrine capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Kernel filter, repeatable: kind=exec,open | path=/etc,/root |
    /// comm=bash | not-comm=sshd | pid=1234 | cgroup=5678.
    #[arg(long = "filter", value_name = "KEY=VALUE[,VALUE]")]
    pub filters: Vec<String>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Do not print events; count them and print statistics at the end.
    #[arg(long)]
    pub stats: bool,
    /// Ring buffer size in MiB.
    #[arg(long, default_value_t = 16)]
    pub ring_mib: u32,
    /// BTF file to use instead of /sys/kernel/btf/vmlinux.
    #[arg(long)]
    pub btf: Option<PathBuf>,
    /// Leave out the i386-ABI (`int 0x80`) syscall programs (benchmarks).
    #[arg(long)]
    pub no_compat_syscalls: bool,
    /// Write a line "ready" on stderr once attached (for scripts).
    #[arg(long)]
    pub ready: bool,
}
