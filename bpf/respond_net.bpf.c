// SPDX-License-Identifier: GPL-2.0-only
/*
 * Peregrine response: network isolation of one cgroup.
 *
 * cgroup/connect4|6 and cgroup/sendmsg4|6 programs attached to a container's
 * (or the host's) cgroup v2 directory. A destination is allowed when it is in
 * the allow map with its port or with port 0 (any port), or when it is a
 * loopback address and `allow_loopback` is set; everything else is refused
 * with EPERM. Returning 0 from a cgroup sock_addr program makes the syscall
 * fail with EPERM; 1 lets it proceed.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "respond_net.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PG_NET_ALLOW_MAX);
	__type(key, struct pg_net_key4);
	__type(value, __u8);
} allow4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PG_NET_ALLOW_MAX);
	__type(key, struct pg_net_key6);
	__type(value, __u8);
} allow6 SEC(".maps");

/* [0] = allow_loopback flag, set by user space before attach. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} settings SEC(".maps");

/* PG_NET_STAT_* counters. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PG_NET_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline int loopback_allowed(void)
{
	__u32 zero = 0;
	__u32 *flag = bpf_map_lookup_elem(&settings, &zero);

	return flag && *flag;
}

static __always_inline int verdict(int allowed)
{
	count(allowed ? PG_NET_STAT_ALLOWED : PG_NET_STAT_DENIED);
	return allowed ? 1 : 0;
}

static __always_inline int check4(struct bpf_sock_addr *ctx)
{
	struct pg_net_key4 key = {};
	__u32 ip = ctx->user_ip4;

	if ((bpf_ntohl(ip) >> 24) == 127 && loopback_allowed())
		return verdict(1);
	key.addr = ip;
	key.port = bpf_ntohs((__u16)ctx->user_port);
	if (bpf_map_lookup_elem(&allow4, &key))
		return verdict(1);
	key.port = 0;
	return verdict(bpf_map_lookup_elem(&allow4, &key) != NULL);
}

static __always_inline int check6(struct bpf_sock_addr *ctx)
{
	struct pg_net_key6 key = {};

	key.addr[0] = ctx->user_ip6[0];
	key.addr[1] = ctx->user_ip6[1];
	key.addr[2] = ctx->user_ip6[2];
	key.addr[3] = ctx->user_ip6[3];
	if (!key.addr[0] && !key.addr[1] && !key.addr[2] &&
	    key.addr[3] == bpf_htonl(1) && loopback_allowed())
		return verdict(1);
	key.port = bpf_ntohs((__u16)ctx->user_port);
	if (bpf_map_lookup_elem(&allow6, &key))
		return verdict(1);
	key.port = 0;
	return verdict(bpf_map_lookup_elem(&allow6, &key) != NULL);
}

SEC("cgroup/connect4")
int pg_connect4(struct bpf_sock_addr *ctx)
{
	return check4(ctx);
}

SEC("cgroup/sendmsg4")
int pg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return check4(ctx);
}

SEC("cgroup/connect6")
int pg_connect6(struct bpf_sock_addr *ctx)
{
	return check6(ctx);
}

SEC("cgroup/sendmsg6")
int pg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return check6(ctx);
}
