//! The `k8s_audit` event source: Kubernetes API-server audit events and the
//! fields Falco's k8saudit plugin (`ka.*`) and json plugin (`jevt.*`,
//! `json.*`) extract from them.
//!
//! Rules with `source: k8s_audit` are compiled against this catalogue (plus
//! a few source-independent `evt.*` fields) and evaluated only against audit
//! events; syscall rules never see an audit event and may not use these
//! fields.

mod context;
mod event;
mod extract;

pub use context::AuditContext;
pub use event::{parse_payload, AuditError, AuditEvent};
pub(crate) use extract::extract;

use super::{ArgKind, Bound, Fid, FieldDef, FieldType};
use crate::eval::{Node, Rhs};
use crate::output::{Segment, Template};

/// The name of the event source.
pub const SOURCE: &str = "k8s_audit";

/// One field of the k8s audit catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KaId {
    AuditId,
    Stage,
    AuthDecision,
    AuthReason,
    AuthOpenshiftDecision,
    AuthOpenshiftUsername,
    ValidationFailure,
    PodSecurityViolations,
    UserName,
    UserGroups,
    ImpUserName,
    Verb,
    Uri,
    UriParam,
    TargetName,
    TargetNamespace,
    TargetResource,
    TargetSubresource,
    TargetPodName,
    BindingSubjects,
    BindingSubjectUsers,
    BindingSubjectServiceAccounts,
    BindingSubjectNsServiceAccounts,
    BindingSubjectGroups,
    BindingRole,
    BindingSubjectHasName,
    ConfigmapName,
    ConfigmapObj,
    ContainerImage,
    ContainerImageRepo,
    PodHostIpc,
    PodHostNetwork,
    PodHostPid,
    ContainerPrivileged,
    PodRunAsUser,
    PodRunAsGroup,
    RoleRules,
    RoleRulesApiGroups,
    RoleRulesNonResourceUrls,
    RoleRulesVerbs,
    RoleRulesResources,
    PodFsGroup,
    PodSupplementalGroups,
    ServiceType,
    ServicePorts,
    VolumeHostpath,
    PodVolumesHostpath,
    PodVolumesFlexDriver,
    PodVolumesType,
    RespName,
    ResponseCode,
    ResponseReason,
    UserAgent,
    SourceIps,
    ClusterName,
    /// A per-container field of one of the pod's container lists.
    Container(ContainerList, ContainerField),
    JsonValue,
    JsonObj,
    JsonRawTime,
}

/// Which of a pod's container lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ContainerList {
    Containers,
    Init,
    Ephemeral,
}

impl ContainerList {
    fn key(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::Init => "initContainers",
            ContainerList::Ephemeral => "ephemeralContainers",
        }
    }
}

/// A per-container field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ContainerField {
    Name,
    Image,
    ImageRepo,
    Command,
    Args,
    Privileged,
    AllowPrivEsc,
    ReadOnlyFs,
    RunAsUser,
    EffRunAsUser,
    RunAsGroup,
    EffRunAsGroup,
    ProcMount,
    AddCapabilities,
    HostPort,
}

macro_rules! ka_fields {
    ($($name:literal, $arg:ident, $id:expr, $desc:literal;)*) => {
        /// Every field of the `k8s_audit` source, in documentation order
        /// (all text; lists render as `(a,b)`).
        pub static K8S_AUDIT_FIELDS: &[FieldDef] = &[
            $(FieldDef { name: $name, ty: FieldType::Str, arg: ArgKind::$arg, desc: $desc, id: Fid::K8sAudit($id) },)*
        ];
    };
}

use ContainerField as F;
use ContainerList as L;
use KaId as K;

ka_fields! {
    "ka.auditid", None, K::AuditId, "The audit event's unique id (auditID).";
    "ka.stage", None, K::Stage, "Stage of the request (RequestReceived, ResponseStarted, ResponseComplete, Panic).";
    "ka.auth.decision", None, K::AuthDecision, "The authorization decision (annotation authorization.k8s.io/decision).";
    "ka.auth.reason", None, K::AuthReason, "The authorization reason (annotation authorization.k8s.io/reason).";
    "ka.auth.openshift.decision", None, K::AuthOpenshiftDecision, "OpenShift authentication decision (annotation authentication.openshift.io/decision).";
    "ka.auth.openshift.username", None, K::AuthOpenshiftUsername, "OpenShift authenticated user (annotation authentication.openshift.io/username).";
    "ka.validations.admission.policy.failure", None, K::ValidationFailure, "Validating admission policy failure (annotation validation.policy.admission.k8s.io/validation_failure).";
    "ka.security.pod.violations", None, K::PodSecurityViolations, "Pod security violations (annotation pod-security.kubernetes.io/audit-violations).";
    "ka.user.name", None, K::UserName, "The user making the request.";
    "ka.user.groups", None, K::UserGroups, "The user's groups (list).";
    "ka.impuser.name", None, K::ImpUserName, "The impersonated user.";
    "ka.verb", None, K::Verb, "The action (get, list, create, update, patch, delete…).";
    "ka.uri", None, K::Uri, "The request URI as the client sent it.";
    "ka.uri.param", Key, K::UriParam, "The first value of a query parameter of the URI (ka.uri.param[command]).";
    "ka.target.name", None, K::TargetName, "The target object's name.";
    "ka.target.namespace", None, K::TargetNamespace, "The target object's namespace.";
    "ka.target.resource", None, K::TargetResource, "The target object's resource (pods, secrets…).";
    "ka.target.subresource", None, K::TargetSubresource, "The target object's subresource (exec, attach…).";
    "ka.target.pod.name", None, K::TargetPodName, "For a pod (no subresource): the pod name from the response object.";
    "ka.req.binding.subjects", None, K::BindingSubjects, "A (cluster) role binding's subjects, each as JSON (list).";
    "ka.req.binding.subjects.user_names", None, K::BindingSubjectUsers, "A binding's User subjects' names (list).";
    "ka.req.binding.subjects.serviceaccount_names", None, K::BindingSubjectServiceAccounts, "A binding's ServiceAccount subjects' names (list).";
    "ka.req.binding.subjects.serviceaccount_ns_names", None, K::BindingSubjectNsServiceAccounts, "A binding's ServiceAccount subjects as namespace:name (list).";
    "ka.req.binding.subjects.group_names", None, K::BindingSubjectGroups, "A binding's Group subjects' names (list).";
    "ka.req.binding.role", None, K::BindingRole, "The role a binding refers to (roleRef.name).";
    "ka.req.binding.subject.has_name", Key, K::BindingSubjectHasName, "Deprecated: always true.";
    "ka.req.configmap.name", None, K::ConfigmapName, "For a configmap: its name.";
    "ka.req.configmap.obj", None, K::ConfigmapObj, "For a configmap: its data, as JSON.";
    "ka.req.pod.containers.name", OptIndex, K::Container(L::Containers, F::Name), "The pod's containers' names (list; [N]: container N).";
    "ka.req.pod.containers.image", OptIndex, K::Container(L::Containers, F::Image), "The pod's containers' images (list).";
    "ka.req.pod.containers.image.repository", OptIndex, K::Container(L::Containers, F::ImageRepo), "The pod's containers' image repositories (image without tag or digest) (list).";
    "ka.req.pod.containers.command", OptIndex, K::Container(L::Containers, F::Command), "The pod's containers' commands, space separated (list).";
    "ka.req.pod.containers.args", OptIndex, K::Container(L::Containers, F::Args), "The pod's containers' args, space separated (list).";
    "ka.req.pod.containers.privileged", OptIndex, K::Container(L::Containers, F::Privileged), "The containers' securityContext.privileged (list).";
    "ka.req.pod.containers.allow_privilege_escalation", OptIndex, K::Container(L::Containers, F::AllowPrivEsc), "The containers' allowPrivilegeEscalation (list).";
    "ka.req.pod.containers.read_only_fs", OptIndex, K::Container(L::Containers, F::ReadOnlyFs), "The containers' readOnlyRootFilesystem (list).";
    "ka.req.pod.containers.run_as_user", OptIndex, K::Container(L::Containers, F::RunAsUser), "The containers' runAsUser (list).";
    "ka.req.pod.containers.eff_run_as_user", OptIndex, K::Container(L::Containers, F::EffRunAsUser), "The containers' effective runAsUser: the container's, else the pod's, else 0 (list).";
    "ka.req.pod.containers.run_as_group", OptIndex, K::Container(L::Containers, F::RunAsGroup), "The containers' runAsGroup (list).";
    "ka.req.pod.containers.eff_run_as_group", OptIndex, K::Container(L::Containers, F::EffRunAsGroup), "The containers' effective runAsGroup: the container's, else the pod's, else 0 (list).";
    "ka.req.pod.containers.proc_mount", OptIndex, K::Container(L::Containers, F::ProcMount), "The containers' procMount (list).";
    "ka.req.pod.containers.add_capabilities", OptIndex, K::Container(L::Containers, F::AddCapabilities), "The containers' added capabilities, per container as JSON (list).";
    "ka.req.pod.containers.host_port", OptIndex, K::Container(L::Containers, F::HostPort), "The containers' hostPort values (containerPort when no hostPort) (list).";
    "ka.req.pod.initContainers.name", OptIndex, K::Container(L::Init, F::Name), "The init containers' names (list).";
    "ka.req.pod.initContainers.image", OptIndex, K::Container(L::Init, F::Image), "The init containers' images (list).";
    "ka.req.pod.initContainers.image.repository", OptIndex, K::Container(L::Init, F::ImageRepo), "The init containers' image repositories (list).";
    "ka.req.pod.initContainers.command", OptIndex, K::Container(L::Init, F::Command), "The init containers' commands (list).";
    "ka.req.pod.initContainers.args", OptIndex, K::Container(L::Init, F::Args), "The init containers' args (list).";
    "ka.req.pod.initContainers.privileged", OptIndex, K::Container(L::Init, F::Privileged), "The init containers' privileged flags (list).";
    "ka.req.pod.initContainers.allow_privilege_escalation", OptIndex, K::Container(L::Init, F::AllowPrivEsc), "The init containers' allowPrivilegeEscalation (list).";
    "ka.req.pod.initContainers.read_only_fs", OptIndex, K::Container(L::Init, F::ReadOnlyFs), "The init containers' readOnlyRootFilesystem (list).";
    "ka.req.pod.initContainers.run_as_user", OptIndex, K::Container(L::Init, F::RunAsUser), "The init containers' runAsUser (list).";
    "ka.req.pod.initContainers.eff_run_as_user", OptIndex, K::Container(L::Init, F::EffRunAsUser), "The init containers' effective runAsUser (list).";
    "ka.req.pod.initContainers.run_as_group", OptIndex, K::Container(L::Init, F::RunAsGroup), "The init containers' runAsGroup (list).";
    "ka.req.pod.initContainers.eff_run_as_group", OptIndex, K::Container(L::Init, F::EffRunAsGroup), "The init containers' effective runAsGroup (list).";
    "ka.req.pod.initContainers.proc_mount", OptIndex, K::Container(L::Init, F::ProcMount), "The init containers' procMount (list).";
    "ka.req.pod.initContainers.add_capabilities", OptIndex, K::Container(L::Init, F::AddCapabilities), "The init containers' added capabilities (list).";
    "ka.req.pod.initContainers.host_port", OptIndex, K::Container(L::Init, F::HostPort), "The init containers' hostPort values (list).";
    "ka.req.pod.ephemeralContainers.name", OptIndex, K::Container(L::Ephemeral, F::Name), "The ephemeral containers' names (list).";
    "ka.req.pod.ephemeralContainers.image", OptIndex, K::Container(L::Ephemeral, F::Image), "The ephemeral containers' images (list).";
    "ka.req.pod.ephemeralContainers.image.repository", OptIndex, K::Container(L::Ephemeral, F::ImageRepo), "The ephemeral containers' image repositories (list).";
    "ka.req.pod.ephemeralContainers.command", OptIndex, K::Container(L::Ephemeral, F::Command), "The ephemeral containers' commands (list).";
    "ka.req.pod.ephemeralContainers.args", OptIndex, K::Container(L::Ephemeral, F::Args), "The ephemeral containers' args (list).";
    "ka.req.pod.ephemeralContainers.privileged", OptIndex, K::Container(L::Ephemeral, F::Privileged), "The ephemeral containers' privileged flags (list).";
    "ka.req.pod.ephemeralContainers.allow_privilege_escalation", OptIndex, K::Container(L::Ephemeral, F::AllowPrivEsc), "The ephemeral containers' allowPrivilegeEscalation (list).";
    "ka.req.pod.ephemeralContainers.read_only_fs", OptIndex, K::Container(L::Ephemeral, F::ReadOnlyFs), "The ephemeral containers' readOnlyRootFilesystem (list).";
    "ka.req.pod.ephemeralContainers.run_as_user", OptIndex, K::Container(L::Ephemeral, F::RunAsUser), "The ephemeral containers' runAsUser (list).";
    "ka.req.pod.ephemeralContainers.eff_run_as_user", OptIndex, K::Container(L::Ephemeral, F::EffRunAsUser), "The ephemeral containers' effective runAsUser (list).";
    "ka.req.pod.ephemeralContainers.run_as_group", OptIndex, K::Container(L::Ephemeral, F::RunAsGroup), "The ephemeral containers' runAsGroup (list).";
    "ka.req.pod.ephemeralContainers.eff_run_as_group", OptIndex, K::Container(L::Ephemeral, F::EffRunAsGroup), "The ephemeral containers' effective runAsGroup (list).";
    "ka.req.pod.ephemeralContainers.proc_mount", OptIndex, K::Container(L::Ephemeral, F::ProcMount), "The ephemeral containers' procMount (list).";
    "ka.req.pod.ephemeralContainers.add_capabilities", OptIndex, K::Container(L::Ephemeral, F::AddCapabilities), "The ephemeral containers' added capabilities (list).";
    "ka.req.container.image", None, K::ContainerImage, "Deprecated: the first container's image.";
    "ka.req.container.image.repository", None, K::ContainerImageRepo, "Deprecated: the first container's image repository.";
    "ka.req.pod.host_ipc", None, K::PodHostIpc, "The pod's hostIPC flag.";
    "ka.req.pod.host_network", None, K::PodHostNetwork, "The pod's hostNetwork flag.";
    "ka.req.container.host_network", None, K::PodHostNetwork, "Deprecated alias of ka.req.pod.host_network.";
    "ka.req.pod.host_pid", None, K::PodHostPid, "The pod's hostPID flag.";
    "ka.req.container.privileged", None, K::ContainerPrivileged, "Deprecated: true if any container is privileged, else false.";
    "ka.req.pod.run_as_user", None, K::PodRunAsUser, "The pod securityContext's runAsUser.";
    "ka.req.pod.run_as_group", None, K::PodRunAsGroup, "The pod securityContext's runAsGroup.";
    "ka.req.pod.fs_group", None, K::PodFsGroup, "The pod securityContext's fsGroup.";
    "ka.req.pod.supplemental_groups", None, K::PodSupplementalGroups, "The pod securityContext's supplementalGroups (list).";
    "ka.req.role.rules", None, K::RoleRules, "A (cluster) role's rules, each as JSON (list).";
    "ka.req.role.rules.apiGroups", OptIndex, K::RoleRulesApiGroups, "A role's rules' apiGroups (list; [N]: rule N).";
    "ka.req.role.rules.nonResourceURLs", OptIndex, K::RoleRulesNonResourceUrls, "A role's rules' nonResourceURLs (list).";
    "ka.req.role.rules.verbs", OptIndex, K::RoleRulesVerbs, "A role's rules' verbs (list).";
    "ka.req.role.rules.resources", OptIndex, K::RoleRulesResources, "A role's rules' resources (list).";
    "ka.req.service.type", None, K::ServiceType, "A service's type.";
    "ka.req.service.ports", OptIndex, K::ServicePorts, "A service's ports, as JSON (list).";
    "ka.req.volume.hostpath", Key, K::VolumeHostpath, "Deprecated: true if some hostPath volume is the argument (a trailing * matches a prefix), else false.";
    "ka.req.pod.volumes.hostpath", OptIndex, K::PodVolumesHostpath, "The pod's hostPath volume paths (list).";
    "ka.req.pod.volumes.flexvolume_driver", OptIndex, K::PodVolumesFlexDriver, "The pod's flexVolume drivers (list).";
    "ka.req.pod.volumes.volume_type", OptIndex, K::PodVolumesType, "The pod's volume types (keys of each volume but name) (list).";
    "ka.resp.name", None, K::RespName, "The response object's name.";
    "ka.response.code", None, K::ResponseCode, "The response status code.";
    "ka.response.reason", None, K::ResponseReason, "The response status reason.";
    "ka.useragent", None, K::UserAgent, "The client's user agent.";
    "ka.sourceips", OptIndex, K::SourceIps, "The client's addresses (sourceIPs) (list).";
    "ka.cluster.name", None, K::ClusterName, "The cluster name (annotation cluster_name).";
    "json.value", Key, K::JsonValue, "A value by JSON pointer (json.value[/objectRef/name]); strings as is, anything else as JSON.";
    "json.obj", None, K::JsonObj, "The whole event as indented JSON.";
    "json.rawtime", None, K::JsonRawTime, "The event time (stageTimestamp), ns since the epoch.";
    "jevt.value", Key, K::JsonValue, "Alias of json.value.";
    "jevt.obj", None, K::JsonObj, "Alias of json.obj.";
    "jevt.rawtime", None, K::JsonRawTime, "Alias of json.rawtime.";
}

/// `evt.*` fields that mean the same for an audit event.
const SHARED_EVT_FIELDS: &[&str] = &["evt.num", "evt.time", "evt.rawtime", "evt.hostname"];

/// Look a k8s audit field up by name.
pub(crate) fn lookup(name: &str) -> Option<&'static FieldDef> {
    K8S_AUDIT_FIELDS.iter().find(|f| f.name == name)
}

/// Is this field's value a list whose `in` means "every value in the set"
/// (Falco's list-field semantics)?
pub(crate) fn in_means_all(b: &Bound) -> bool {
    matches!(b.def.id, Fid::K8sAudit(_))
}

/// Can a rule of `source` use `def`?
fn field_fits(def: &FieldDef, source: &str) -> bool {
    let audit = matches!(def.id, Fid::K8sAudit(_));
    if source == SOURCE {
        audit || SHARED_EVT_FIELDS.contains(&def.name)
    } else {
        !audit
    }
}

/// The first field of a compiled condition or output that rules of
/// `source` cannot use (audit fields in a syscall rule, syscall fields in
/// an audit rule).
pub(crate) fn foreign_field(cond: &Node, out: &Template, source: &str) -> Option<&'static str> {
    fn in_node(n: &Node, source: &str, seen: &mut Vec<usize>) -> Option<&'static str> {
        match n {
            Node::And(v) | Node::Or(v) => v.iter().find_map(|c| in_node(c, source, seen)),
            Node::Not(x) => in_node(x, source, seen),
            Node::Shared(x, slot) => {
                if seen.contains(slot) {
                    return None;
                }
                seen.push(*slot);
                in_node(x, source, seen)
            }
            Node::Check(c) => {
                if !field_fits(c.field.def, source) {
                    return Some(c.field.def.name);
                }
                match &c.rhs {
                    Rhs::Field(b, _) if !field_fits(b.def, source) => Some(b.def.name),
                    _ => None,
                }
            }
            Node::Const(_) => None,
        }
    }
    if let Some(f) = in_node(cond, source, &mut Vec::new()) {
        return Some(f);
    }
    out.segments.iter().find_map(|s| match s {
        Segment::Field(_, b) if !field_fits(b.def, source) => Some(b.def.name),
        _ => None,
    })
}
