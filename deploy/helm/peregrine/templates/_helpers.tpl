{{/* Name of the chart. */}}
{{- define "peregrine.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, unless overridden. */}}
{{- define "peregrine.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Common labels. */}}
{{- define "peregrine.labels" -}}
app.kubernetes.io/name: {{ include "peregrine.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component (pass a dict: ctx, component). */}}
{{- define "peregrine.selector" -}}
app.kubernetes.io/name: {{ include "peregrine.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "peregrine.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "peregrine.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "peregrine.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}

{{/* Secret holding the agent token (key: token). */}}
{{- define "peregrine.tokenSecret" -}}
{{- default (printf "%s-agent-token" (include "peregrine.fullname" .)) .Values.server.agentToken.existingSecret -}}
{{- end -}}

{{/* URL of the chart's server, as the agents reach it. */}}
{{- define "peregrine.serverURL" -}}
{{- $scheme := ternary "https" "http" (ne .Values.server.tlsSecret "") -}}
{{- printf "%s://%s-server.%s.svc:%d" $scheme (include "peregrine.fullname" .) .Release.Namespace (int .Values.server.port) -}}
{{- end -}}

{{/* Whether the agents ship alerts to the chart's server: it runs, the
agents are asked to, and there is a token for them. */}}
{{- define "peregrine.shipToServer" -}}
{{- $t := .Values.server.agentToken -}}
{{- if and .Values.server.enabled .Values.agent.connectToServer (or $t.value $t.existingSecret) -}}
true
{{- end -}}
{{- end -}}
