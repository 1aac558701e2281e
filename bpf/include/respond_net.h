/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Layouts shared by bpf/respond_net.bpf.c and crates/peregrine-respond
 * (src/network/cgroup.rs mirrors them with #[repr(C)]).
 */
#ifndef PEREGRINE_RESPOND_NET_H
#define PEREGRINE_RESPOND_NET_H

#define PG_NET_ALLOW_MAX 1024

/* Destination address in network byte order, port in host order (0 = any). */
struct pg_net_key4 {
	__u32 addr;
	__u32 port;
};

struct pg_net_key6 {
	__u32 addr[4];
	__u32 port;
};

#define PG_NET_STAT_ALLOWED 0
#define PG_NET_STAT_DENIED 1
#define PG_NET_STAT_COUNT 2

#endif
