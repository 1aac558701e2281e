//! The schema texts of versions 1 and 2 exactly as earlier Peregrines wrote
//! them, to create the databases an upgrade starts from.

/// SQLite, versions 1 and 2.
pub const SQLITE: &[&str] = &[
    // 1: alerts with indexed columns, context events, agents, rule sets, tokens.
    "CREATE TABLE alerts (
        rid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        time_ns INTEGER NOT NULL,
        received_ns INTEGER NOT NULL,
        rule TEXT NOT NULL,
        priority INTEGER NOT NULL,
        source TEXT NOT NULL,
        hostname TEXT NOT NULL,
        agent TEXT NOT NULL,
        container_id TEXT NOT NULL DEFAULT '',
        container_name TEXT NOT NULL DEFAULT '',
        image TEXT NOT NULL DEFAULT '',
        k8s_ns TEXT NOT NULL DEFAULT '',
        k8s_pod TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '',
        output TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 1,
        status TEXT NOT NULL DEFAULT 'open',
        status_by TEXT,
        status_ns INTEGER,
        doc TEXT NOT NULL
    );
    CREATE INDEX alerts_time ON alerts(time_ns, id);
    CREATE INDEX alerts_rule ON alerts(rule, time_ns);
    CREATE INDEX alerts_prio ON alerts(priority, time_ns);
    CREATE INDEX alerts_host ON alerts(hostname, time_ns);
    CREATE INDEX alerts_cname ON alerts(container_name, time_ns);
    CREATE INDEX alerts_cid ON alerts(container_id, time_ns);
    CREATE INDEX alerts_image ON alerts(image, time_ns);
    CREATE INDEX alerts_k8s ON alerts(k8s_ns, time_ns);
    CREATE INDEX alerts_status ON alerts(status, time_ns);
    CREATE VIRTUAL TABLE alerts_fts USING fts5(
        output, rule, content='alerts', content_rowid='rid', tokenize='trigram');
    CREATE TRIGGER alerts_ai AFTER INSERT ON alerts BEGIN
        INSERT INTO alerts_fts(rowid, output, rule) VALUES (new.rid, new.output, new.rule);
    END;
    CREATE TRIGGER alerts_ad AFTER DELETE ON alerts BEGIN
        INSERT INTO alerts_fts(alerts_fts, rowid, output, rule)
            VALUES ('delete', old.rid, old.output, old.rule);
    END;
    CREATE TABLE alert_events (
        alert_rid INTEGER NOT NULL REFERENCES alerts(rid) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        pid INTEGER NOT NULL,
        name TEXT NOT NULL,
        exepath TEXT NOT NULL,
        cmdline TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (alert_rid, seq)
    ) WITHOUT ROWID;
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE TABLE rulesets (
        agent TEXT NOT NULL,
        name TEXT NOT NULL,
        doc TEXT NOT NULL,
        updated INTEGER NOT NULL,
        PRIMARY KEY (agent, name)
    );
    CREATE TABLE tokens (
        sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        created INTEGER NOT NULL
    );",
    // 2: the time index covers what lists filter on and charts count, so
    // time-ranged pages and aggregations read the index only.
    "DROP INDEX alerts_time;
    CREATE INDEX alerts_time ON alerts(time_ns, id, priority, status, rule, hostname,
        container_name, image, k8s_ns);",
];

/// PostgreSQL, versions 1 and 2.
pub const POSTGRES: &[&str] = &[
    // 1: same tables as the SQLite schema.
    "CREATE TABLE alerts (
        rid BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        time_ns BIGINT NOT NULL,
        received_ns BIGINT NOT NULL,
        rule TEXT NOT NULL,
        priority BIGINT NOT NULL,
        source TEXT NOT NULL,
        hostname TEXT NOT NULL,
        agent TEXT NOT NULL,
        container_id TEXT NOT NULL DEFAULT '',
        container_name TEXT NOT NULL DEFAULT '',
        image TEXT NOT NULL DEFAULT '',
        k8s_ns TEXT NOT NULL DEFAULT '',
        k8s_pod TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '',
        output TEXT NOT NULL,
        count BIGINT NOT NULL DEFAULT 1,
        status TEXT NOT NULL DEFAULT 'open',
        status_by TEXT,
        status_ns BIGINT,
        doc TEXT NOT NULL
    );
    CREATE INDEX alerts_time ON alerts(time_ns, id);
    CREATE INDEX alerts_rule ON alerts(rule, time_ns);
    CREATE INDEX alerts_prio ON alerts(priority, time_ns);
    CREATE INDEX alerts_host ON alerts(hostname, time_ns);
    CREATE INDEX alerts_cname ON alerts(container_name, time_ns);
    CREATE INDEX alerts_cid ON alerts(container_id, time_ns);
    CREATE INDEX alerts_image ON alerts(image, time_ns);
    CREATE INDEX alerts_k8s ON alerts(k8s_ns, time_ns);
    CREATE INDEX alerts_status ON alerts(status, time_ns);
    CREATE TABLE alert_events (
        alert_rid BIGINT NOT NULL REFERENCES alerts(rid) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        pid BIGINT NOT NULL,
        name TEXT NOT NULL,
        exepath TEXT NOT NULL,
        cmdline TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (alert_rid, seq)
    );
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        first_seen BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE TABLE rulesets (
        agent TEXT NOT NULL,
        name TEXT NOT NULL,
        doc TEXT NOT NULL,
        updated BIGINT NOT NULL,
        PRIMARY KEY (agent, name)
    );
    CREATE TABLE tokens (
        sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        created BIGINT NOT NULL
    );",
    // 2: covering time index (see the SQLite schema).
    "DROP INDEX alerts_time;
    CREATE INDEX alerts_time ON alerts(time_ns, id)
        INCLUDE (priority, status, rule, hostname, container_name, image, k8s_ns);",
];
