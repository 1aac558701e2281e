/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Opt-in syscall id stream for the anomaly model. Included at the end of
 * peregrine.bpf.c (shares its maps and helpers); attached only when user
 * space selects workloads, and even then every program first checks the
 * PG_CFG_STREAM_* flags, so a sensor without a selection pays nothing.
 *
 * raw_tp/sys_enter appends the id to a per-thread buffer (an LRU hash keyed
 * by tid); a buffer is created only for a selected thread (comm in
 * STREAM_COMMS or cgroup id in STREAM_CGROUPS, checked when the thread has
 * no buffer yet). The buffer is written as one PG_KIND_SYSCALLS record when
 * full, when its first id is older than PG_SYSIDS_FLUSH_NS (checked at the
 * next syscall), at exec (a new program: the selection is checked again)
 * and at thread exit.
 */

struct pg_stream_buf {
	__u64 first_ns;
	struct pg_sysids_event ev;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[PG_COMM_LEN]);
	__type(value, __u8);
} STREAM_COMMS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} STREAM_CGROUPS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct pg_stream_buf);
} STREAM_BUFS SEC(".maps");

/* Never written: the zero value new buffers start from. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_stream_buf);
} STREAM_ZERO SEC(".maps");

#define PG_CFG_STREAM_ANY (PG_CFG_STREAM_COMM | PG_CFG_STREAM_CGROUP)

static __always_inline struct pg_config *pg_stream_config(void)
{
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&CONFIG, &zero);
	if (!cfg || !(cfg->flags & PG_CFG_STREAM_ANY))
		return NULL;
	return cfg;
}

static __always_inline bool pg_stream_selected(__u32 flags)
{
	if (flags & PG_CFG_STREAM_CGROUP) {
		__u64 cg = bpf_get_current_cgroup_id();
		if (bpf_map_lookup_elem(&STREAM_CGROUPS, &cg))
			return true;
	}
	if (flags & PG_CFG_STREAM_COMM) {
		char comm[PG_COMM_LEN] = {};
		bpf_get_current_comm(comm, sizeof(comm));
		if (bpf_map_lookup_elem(&STREAM_COMMS, comm))
			return true;
	}
	return false;
}

static __always_inline void pg_stream_flush(struct pg_stream_buf *b, __u16 flags)
{
	__u32 n = b->ev.count;
	if (n == 0 && !flags)
		return;
	if (n > PG_SYSIDS_MAX)
		n = PG_SYSIDS_MAX;
	b->ev.flags = flags;
	pg_fill_header_cur(&b->ev.hdr, PG_KIND_SYSCALLS, PG_SYS_NONE);
	pg_submit(&b->ev.hdr, offsetof(struct pg_sysids_event, ids) + n * sizeof(__u16),
		  PG_CAT_KERNEL);
	b->ev.count = 0;
}

SEC("raw_tp/sys_enter")
int raw_sys_enter_stream(void *ctx)
{
	struct pg_config *cfg = pg_stream_config();
	if (!cfg)
		return 0;
	__u64 pt = bpf_get_current_pid_tgid();
	if ((__u32)(pt >> 32) == cfg->self_tgid)
		return 0;
	__u32 tid = (__u32)pt;
	struct pg_stream_buf *b = bpf_map_lookup_elem(&STREAM_BUFS, &tid);
	if (!b) {
		if (!pg_stream_selected(cfg->flags))
			return 0;
		__u32 zero = 0;
		struct pg_stream_buf *z = bpf_map_lookup_elem(&STREAM_ZERO, &zero);
		if (!z)
			return 0;
		bpf_map_update_elem(&STREAM_BUFS, &tid, z, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&STREAM_BUFS, &tid);
		if (!b)
			return 0;
	}
	__u64 now = bpf_ktime_get_boot_ns();
	__u32 n = b->ev.count;
	if (n >= PG_SYSIDS_MAX || (n > 0 && now - b->first_ns > PG_SYSIDS_FLUSH_NS)) {
		pg_stream_flush(b, 0);
		n = 0;
	}
	if (n == 0)
		b->first_ns = now;
	if (n < PG_SYSIDS_MAX) {
		/* args: (struct pt_regs *regs, long id); plain u64 reads, no
		 * CO-RE relocation on the flexible args[] of the context type. */
		b->ev.ids[n] = (__u16)((__u64 *)ctx)[1];
		b->ev.count = n + 1;
	}
	return 0;
}

static __always_inline void pg_stream_end(__u16 flags)
{
	if (!pg_stream_config())
		return;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pg_stream_buf *b = bpf_map_lookup_elem(&STREAM_BUFS, &tid);
	if (!b)
		return;
	pg_stream_flush(b, flags);
	bpf_map_delete_elem(&STREAM_BUFS, &tid);
}

SEC("raw_tp/sched_process_exec")
int raw_stream_exec(void *ctx)
{
	pg_stream_end(PG_SYSIDS_F_EXEC);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int raw_stream_exit(void *ctx)
{
	pg_stream_end(PG_SYSIDS_F_EXIT);
	return 0;
}
