//! `peregrine server` and `peregrine server token …`.
use crate::cli::{ServerArgs, ServerCommand, ServerOpts, TokenCommand};
use anyhow::{Context, Result};
use peregrine_server::{ServerConfig, ServerHandle};
use peregrine_store::{Retention, Role, Store};
use std::path::Path;
use std::sync::Arc;

/// Open the configured store (default: DATA_DIR/peregrine.db).
pub fn open_store(store: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>> {
    let loc = match store {
        Some(s) => s.to_string(),
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
            restrict(data_dir, 0o700);
            // A directory: the store puts peregrine.db inside.
            data_dir.display().to_string()
        }
    };
    let s = peregrine_store::open(&loc).with_context(|| "cannot open the store")?;
    Ok(Arc::from(s))
}

fn restrict(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
}

/// The admin token kept in DATA_DIR/admin.token (0600), created on first
/// start and registered in the store.
pub fn admin_token(store: &dyn Store, data_dir: &Path) -> Result<String> {
    let file = data_dir.join("admin.token");
    let token = match std::fs::read_to_string(&file) {
        Ok(t) if t.trim().starts_with("pg_") => t.trim().to_string(),
        _ => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            let t = peregrine_server::auth::generate().context("generating a token")?;
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&file)
                .with_context(|| format!("cannot write {}", file.display()))?;
            writeln!(f, "{t}")?;
            t
        }
    };
    restrict(&file, 0o600);
    let digest = peregrine_server::auth::digest(&token);
    if store.token(&digest)?.is_none() {
        store.add_token("admin", Role::Admin, &digest)?;
    }
    Ok(token)
}

/// Start the server for these options; returns it and the admin token.
pub fn start(opts: &ServerOpts) -> Result<(ServerHandle, String)> {
    let store = open_store(opts.store.as_deref(), &opts.data_dir)?;
    let admin = admin_token(store.as_ref(), &opts.data_dir)?;
    let tls = match (&opts.tls_cert, &opts.tls_key) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        _ => None,
    };
    if tls.is_none() && !opts.listen.ip().is_loopback() {
        tracing::warn!(
            "listening on {} without TLS: tokens and alerts cross the network in clear text (use --tls-cert/--tls-key)",
            opts.listen
        );
        eprintln!(
            "peregrine: warning: {} is reachable from other hosts without TLS",
            opts.listen
        );
    }
    let cfg = ServerConfig {
        listen: opts.listen,
        tls,
        retention: Retention {
            max_age_secs: opts.retention_days.max(0) * 86400,
            max_alerts: opts.retention_max_alerts,
            max_bytes: opts.retention_max_mb << 20,
        },
        redact: opts.redact.clone(),
        ..ServerConfig::default()
    };
    let handle = peregrine_server::start(cfg, store)?;
    Ok((handle, admin))
}

fn token_cmd(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Add {
            name,
            role,
            store,
            data_dir,
        } => {
            let role = Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("role '{role}': expected agent, viewer or admin"))?;
            let s = open_store(store.as_deref(), &data_dir)?;
            let t = peregrine_server::auth::issue(s.as_ref(), &name, role)
                .map_err(|e| anyhow::anyhow!(e))?;
            println!("{t}");
            eprintln!(
                "token '{name}' ({}) created; it is shown only now",
                role.as_str()
            );
        }
        TokenCommand::List { store, data_dir } => {
            let s = open_store(store.as_deref(), &data_dir)?;
            for t in s.tokens()? {
                println!(
                    "{}\t{}\t{}",
                    t.name,
                    t.role.as_str(),
                    peregrine_event::time::rfc3339(t.created.max(0) as u64 * 1_000_000_000)
                );
            }
        }
        TokenCommand::Revoke {
            name,
            store,
            data_dir,
        } => {
            let s = open_store(store.as_deref(), &data_dir)?;
            let n = s.revoke_token(&name)?;
            if n == 0 {
                anyhow::bail!("no token named '{name}'");
            }
            println!("revoked {n} token(s) named '{name}'");
        }
    }
    Ok(())
}

/// `peregrine server`: serve until SIGINT/SIGTERM.
pub fn run(args: ServerArgs) -> Result<()> {
    if let Some(ServerCommand::Token(cmd)) = args.command {
        return token_cmd(cmd);
    }
    let (handle, _admin) = start(&args.opts)?;
    let url = handle.url();
    eprintln!(
        "peregrine server on {url} (store: {}); admin token in {}",
        args.opts
            .store
            .as_deref()
            .map(peregrine_store::redact_url)
            .unwrap_or_else(|| args
                .opts
                .data_dir
                .join("peregrine.db")
                .display()
                .to_string()),
        args.opts.data_dir.join("admin.token").display()
    );
    if args.ready {
        eprintln!("ready {url}");
    }
    crate::capture::install_stop_handlers();
    while !crate::capture::stop_requested() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    handle.stop();
    Ok(())
}
