// SPDX-License-Identifier: GPL-2.0-only
/*
 * Peregrine response: capability probe. A BPF-LSM program that allows
 * everything; user space only tries to load it to learn whether the kernel
 * accepts BPF-LSM (trampoline) programs. It is never attached.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("lsm/bprm_check_security")
int BPF_PROG(pg_probe_bprm, struct linux_binprm *bprm, int ret)
{
	return ret;
}
