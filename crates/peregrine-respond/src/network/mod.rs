//! Network isolation (`isolate` with undo).
//!
//! [`cgroup`] attaches cgroup sock programs (`connect4/6`, `sendmsg4/6`) to a
//! cgroup v2 directory: every connect or datagram send from a process in that
//! cgroup to an address outside the allow list fails with EPERM. Undo detaches
//! them. BPF-LSM `socket_connect` would cover processes outside cgroups too
//! where the kernel accepts it; here cgroup hooks are the mechanism.

pub mod cgroup;

pub use cgroup::{AllowRule, Isolation, IsolationConfig, IsolationStats, NetError};
