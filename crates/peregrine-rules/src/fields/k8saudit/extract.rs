//! Field values of an audit event, as the k8saudit and json plugins compute
//! them (see docs/KUBERNETES.md for where Peregrine differs).

use super::{ContainerField as F, ContainerList, KaId as K};
use crate::context::{Context, Value};
use crate::fields::{Bound, FieldArg};
use serde_json::Value as Json;
use std::borrow::Cow;

/// A member of an object, or an element of an array by its decimal index.
fn get_key<'j>(v: &'j Json, k: &str) -> Option<&'j Json> {
    match v {
        Json::Object(m) => m.get(k),
        Json::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

fn at<'j>(v: &'j Json, keys: &[&str]) -> Option<&'j Json> {
    keys.iter().try_fold(v, |v, k| get_key(v, k))
}

/// Strings as they are, anything else as compact JSON.
fn text(v: &Json) -> Cow<'_, str> {
    match v {
        Json::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

fn one<'c>(j: &'c Json, keys: &[&str]) -> Option<Value<'c>> {
    at(j, keys).map(|v| Value::Str(text(v)))
}

/// A list value; an empty list is no value.
fn list(items: Vec<Cow<'_, str>>) -> Option<Value<'_>> {
    (!items.is_empty()).then(|| Value::List(items.into_iter().map(Value::Str).collect()))
}

/// An array's elements (anything else: no value).
fn array<'c>(j: &'c Json, keys: &[&str]) -> Option<Value<'c>> {
    list(at(j, keys)?.as_array()?.iter().map(text).collect())
}

/// Follow `keys`, fanning out over every array met on the way (or taking
/// element `index` of each); a branch that lacks a key gives `None`.
fn values_rec<'j>(
    mut v: &'j Json,
    index: Option<usize>,
    keys: &[&str],
) -> Option<Vec<Option<&'j Json>>> {
    for (i, k) in keys.iter().enumerate() {
        if let Json::Array(arr) = v {
            match index {
                None => {
                    return Some(
                        arr.iter()
                            .flat_map(|e| values_rec(e, None, &keys[i..]).unwrap_or(vec![None]))
                            .collect(),
                    )
                }
                Some(n) => v = arr.get(n)?,
            }
        }
        if !k.is_empty() {
            v = get_key(v, k)?;
        }
    }
    Some(vec![Some(v)])
}

fn skip_nil(vals: Vec<Option<&Json>>) -> Vec<Cow<'_, str>> {
    vals.into_iter().flatten().map(text).collect()
}

fn index_of(b: &Bound) -> Option<usize> {
    match b.arg {
        FieldArg::Index(i) => Some(i),
        _ => None,
    }
}

fn container_values<'j>(
    j: &'j Json,
    l: ContainerList,
    index: Option<usize>,
    sub: &[&str],
) -> Option<Vec<Option<&'j Json>>> {
    let mut keys = vec!["requestObject", "spec", l.key()];
    keys.extend_from_slice(sub);
    values_rec(j, index, &keys)
}

/// Every container's `sub` value as text; a container without it: no value
/// at all (the plugin's type error).
fn strict<'j>(
    j: &'j Json,
    l: ContainerList,
    index: Option<usize>,
    sub: &str,
) -> Option<Vec<Cow<'j, str>>> {
    container_values(j, l, index, &[sub])?
        .into_iter()
        .map(|v| v.map(text))
        .collect()
}

fn repository<'a>(image: &str) -> Cow<'a, str> {
    let no_tag = image.split(':').next().unwrap_or("");
    Cow::Owned(no_tag.split('@').next().unwrap_or("").to_string())
}

/// Commands or args: each container's array joined by spaces.
fn joined<'j>(j: &'j Json, l: ContainerList, index: Option<usize>, sub: &str) -> Option<Value<'j>> {
    let mut out = Vec::new();
    for v in container_values(j, l, index, &[sub])?.into_iter().flatten() {
        let parts: Option<Vec<&str>> = v.as_array()?.iter().map(Json::as_str).collect();
        out.push(Cow::Owned(parts?.join(" ")));
    }
    list(out)
}

fn host_ports<'j>(j: &'j Json, l: ContainerList, index: Option<usize>) -> Option<Value<'j>> {
    let mut out = Vec::new();
    for ports in container_values(j, l, index, &["ports"])?
        .into_iter()
        .flatten()
    {
        for p in ports.as_array()? {
            if let Some(v) = p.get("hostPort").or_else(|| p.get("containerPort")) {
                out.push(text(v));
            }
        }
    }
    list(out)
}

/// The container's `securityContext.<key>`, else the pod's, else "0".
fn effective<'j>(
    j: &'j Json,
    l: ContainerList,
    index: Option<usize>,
    key: &str,
) -> Option<Value<'j>> {
    let pod = at(j, &["requestObject", "spec", "securityContext", key])
        .map(text)
        .unwrap_or(Cow::Borrowed("0"));
    let vals = container_values(j, l, index, &["securityContext", key])?;
    list(
        vals.into_iter()
            .map(|v| v.map(text).unwrap_or_else(|| pod.clone()))
            .collect(),
    )
}

fn container<'j>(j: &'j Json, l: ContainerList, f: F, index: Option<usize>) -> Option<Value<'j>> {
    let sc = |key: &str| {
        let vals = container_values(j, l, index, &["securityContext", key])?;
        list(skip_nil(vals))
    };
    match f {
        F::Name => list(strict(j, l, index, "name")?),
        F::Image => list(strict(j, l, index, "image")?),
        F::ImageRepo => {
            let images = strict(j, l, index, "image")?;
            list(images.iter().map(|i| repository(i)).collect())
        }
        F::Command => joined(j, l, index, "command"),
        F::Args => joined(j, l, index, "args"),
        F::HostPort => host_ports(j, l, index),
        F::Privileged => sc("privileged"),
        F::AllowPrivEsc => sc("allowPrivilegeEscalation"),
        F::ReadOnlyFs => sc("readOnlyRootFilesystem"),
        F::RunAsUser => sc("runAsUser"),
        F::RunAsGroup => sc("runAsGroup"),
        F::ProcMount => sc("procMount"),
        F::EffRunAsUser => effective(j, l, index, "runAsUser"),
        F::EffRunAsGroup => effective(j, l, index, "runAsGroup"),
        F::AddCapabilities => {
            let vals = container_values(j, l, index, &["securityContext", "capabilities", "add"])?;
            list(skip_nil(vals))
        }
    }
}

/// Names of a binding's subjects of `kind` (`namespaced`: as ns:name).
fn subjects<'j>(j: &'j Json, kind: &str, namespaced: bool) -> Option<Value<'j>> {
    let subjects = at(j, &["requestObject", "subjects"])?.as_array()?;
    let mut out = Vec::new();
    for s in subjects {
        let (Some(k), Some(name)) = (s.get("kind"), s.get("name")) else {
            continue;
        };
        if text(k) != kind {
            continue;
        }
        if namespaced {
            let Some(ns) = s.get("namespace") else {
                continue;
            };
            out.push(Cow::Owned(format!("{}:{}", text(ns), text(name))));
        } else {
            out.push(text(name));
        }
    }
    list(out)
}

/// The values of `requestObject.rules[].<key>`, flattened.
fn rules_field<'j>(j: &'j Json, index: Option<usize>, key: &str) -> Option<Value<'j>> {
    let vals = values_rec(j, index, &["requestObject", "rules", key])?;
    let items = vals
        .into_iter()
        .flatten()
        .filter_map(Json::as_array)
        .flat_map(|a| a.iter().map(text))
        .collect();
    list(items)
}

fn volume_paths<'j>(j: &'j Json, index: Option<usize>, keys: [&str; 2]) -> Vec<Cow<'j, str>> {
    let path = ["requestObject", "spec", "volumes", keys[0], keys[1]];
    values_rec(j, index, &path)
        .map(skip_nil)
        .unwrap_or_default()
}

fn uri_param<'j>(j: &'j Json, key: &str) -> Option<Value<'j>> {
    let uri = at(j, &["requestURI"])?.as_str()?;
    let query = uri.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| Value::Str(Cow::Owned(v.into_owned())))
}

/// `json.value[/a/b/0]`: RFC 6901 pointer (also without the leading `/`).
fn json_value<'j>(j: &'j Json, arg: &str) -> Option<Value<'j>> {
    if arg.is_empty() {
        return Some(Value::Str(Cow::Owned(j.to_string())));
    }
    let arg = arg.strip_prefix('/').unwrap_or(arg);
    let mut v = j;
    for part in arg.split('/') {
        let key = part.replace("~1", "/").replace("~0", "~");
        v = get_key(v, &key)?;
    }
    Some(Value::Str(text(v)))
}

/// The value of k8s audit field `id` (bound as `b`) for the context's audit
/// event; nothing for a syscall event.
pub(crate) fn extract<'c>(id: K, b: &Bound, ctx: &'c dyn Context) -> Option<Value<'c>> {
    let audit = ctx.audit()?;
    let j = &audit.json;
    let key = match &b.arg {
        FieldArg::Key(k) => k.as_str(),
        _ => "",
    };
    match id {
        K::JsonValue => return json_value(j, key),
        K::JsonObj => {
            let pretty = serde_json::to_string_pretty(j).ok()?;
            return Some(Value::Str(Cow::Owned(pretty)));
        }
        K::JsonRawTime => return Some(Value::Str(Cow::Owned(audit.ts_ns.to_string()))),
        _ => {}
    }
    // Only audit events have fields (other JSON is skipped).
    j.get("auditID")?;
    let index = index_of(b);
    let ann = |k: &str| one(j, &["annotations", k]);
    match id {
        K::AuditId => one(j, &["auditID"]),
        K::Stage => one(j, &["stage"]),
        K::AuthDecision => ann("authorization.k8s.io/decision"),
        K::AuthReason => ann("authorization.k8s.io/reason"),
        K::AuthOpenshiftDecision => ann("authentication.openshift.io/decision"),
        K::AuthOpenshiftUsername => ann("authentication.openshift.io/username"),
        K::ValidationFailure => ann("validation.policy.admission.k8s.io/validation_failure"),
        K::PodSecurityViolations => ann("pod-security.kubernetes.io/audit-violations"),
        K::ClusterName => ann("cluster_name"),
        K::UserName => one(j, &["user", "username"]),
        K::UserGroups => array(j, &["user", "groups"]),
        K::ImpUserName => one(j, &["impersonatedUser", "username"]),
        K::Verb => one(j, &["verb"]),
        K::Uri => one(j, &["requestURI"]),
        K::UriParam => uri_param(j, key),
        K::TargetName | K::ConfigmapName => one(j, &["objectRef", "name"]),
        K::TargetNamespace => one(j, &["objectRef", "namespace"]),
        K::TargetResource => one(j, &["objectRef", "resource"]),
        K::TargetSubresource => one(j, &["objectRef", "subresource"]),
        K::TargetPodName => {
            let obj = |k| {
                at(j, &["objectRef", k])
                    .and_then(Json::as_str)
                    .unwrap_or("")
            };
            if obj("resource") == "pods" && obj("subresource").is_empty() {
                one(j, &["responseObject", "metadata", "name"])
            } else {
                None
            }
        }
        K::RespName => one(j, &["responseObject", "metadata", "name"]),
        K::ResponseCode => one(j, &["responseStatus", "code"]),
        K::ResponseReason => one(j, &["responseStatus", "reason"]),
        K::UserAgent => one(j, &["userAgent"]),
        K::SourceIps => {
            let ips = at(j, &["sourceIPs"])?.as_array()?;
            match index {
                Some(i) => list(vec![text(ips.get(i)?)]),
                None => list(ips.iter().map(text).collect()),
            }
        }
        K::Container(l, f) => container(j, l, f, index),
        _ => request(id, j, index, key),
    }
}

/// Fields of the request object (bindings, pods, roles, services, volumes).
fn request<'j>(id: K, j: &'j Json, index: Option<usize>, key: &str) -> Option<Value<'j>> {
    let s = |v: &'static str| Some(Value::Str(Cow::Borrowed(v)));
    match id {
        K::BindingSubjects => array(j, &["requestObject", "subjects"]),
        K::BindingSubjectUsers => subjects(j, "User", false),
        K::BindingSubjectServiceAccounts => subjects(j, "ServiceAccount", false),
        K::BindingSubjectNsServiceAccounts => subjects(j, "ServiceAccount", true),
        K::BindingSubjectGroups => subjects(j, "Group", false),
        K::BindingRole => one(j, &["requestObject", "roleRef", "name"]),
        K::BindingSubjectHasName => s("true"),
        K::ConfigmapObj => one(j, &["requestObject", "data"]),
        K::ContainerImage => {
            let images = strict(j, ContainerList::Containers, None, "image")?;
            images.into_iter().next().map(Value::Str)
        }
        K::ContainerImageRepo => {
            let images = strict(j, ContainerList::Containers, None, "image")?;
            images.first().map(|i| Value::Str(repository(i)))
        }
        K::PodHostIpc => one(j, &["requestObject", "spec", "hostIPC"]),
        K::PodHostNetwork => one(j, &["requestObject", "spec", "hostNetwork"]),
        K::PodHostPid => one(j, &["requestObject", "spec", "hostPID"]),
        K::ContainerPrivileged => {
            let sub = ["securityContext", "privileged"];
            let vals = container_values(j, ContainerList::Containers, None, &sub)?;
            let any = vals
                .into_iter()
                .flatten()
                .any(|v| v.as_bool() == Some(true));
            s(if any { "true" } else { "false" })
        }
        K::PodRunAsUser => one(
            j,
            &["requestObject", "spec", "securityContext", "runAsUser"],
        ),
        K::PodRunAsGroup => one(
            j,
            &["requestObject", "spec", "securityContext", "runAsGroup"],
        ),
        K::PodFsGroup => one(j, &["requestObject", "spec", "securityContext", "fsGroup"]),
        K::PodSupplementalGroups => array(
            j,
            &[
                "requestObject",
                "spec",
                "securityContext",
                "supplementalGroups",
            ],
        ),
        K::RoleRules => array(j, &["requestObject", "rules"]),
        K::RoleRulesApiGroups => rules_field(j, index, "apiGroups"),
        K::RoleRulesNonResourceUrls => rules_field(j, index, "nonResourceURLs"),
        K::RoleRulesVerbs => rules_field(j, index, "verbs"),
        K::RoleRulesResources => rules_field(j, index, "resources"),
        K::ServiceType => one(j, &["requestObject", "spec", "type"]),
        K::ServicePorts => list(vec![text(at(j, &["requestObject", "spec", "ports"])?)]),
        K::VolumeHostpath => {
            let paths = volume_paths(j, None, ["hostPath", "path"]);
            let hit = match key.strip_suffix('*') {
                Some(prefix) => paths.iter().any(|p| p.starts_with(prefix)),
                None => paths.iter().any(|p| p == key),
            };
            s(if hit { "true" } else { "false" })
        }
        K::PodVolumesHostpath => list(volume_paths(j, index, ["hostPath", "path"])),
        K::PodVolumesFlexDriver => list(volume_paths(j, index, ["flexVolume", "driver"])),
        K::PodVolumesType => {
            let vols = values_rec(j, index, &["requestObject", "spec", "volumes", ""])?;
            let types = vols
                .into_iter()
                .flatten()
                .filter_map(Json::as_object)
                .flat_map(|o| {
                    o.keys()
                        .filter(|k| *k != "name")
                        .map(|k| Cow::Borrowed(k.as_str()))
                })
                .collect();
            list(types)
        }
        _ => None,
    }
}
