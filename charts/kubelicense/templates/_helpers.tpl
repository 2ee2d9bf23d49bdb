{{/* The chart's name, or nameOverride. */}}
{{- define "kubelicense.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: the release name when it contains the chart
name (helm install kubelicense ... gives kubelicense-controller-manager).
*/}}
{{- define "kubelicense.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubelicense.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kubelicense.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubelicense
{{- end }}

{{/* Labels that select the manager pods. */}}
{{- define "kubelicense.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubelicense.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubelicense.managerName" -}}
{{ include "kubelicense.fullname" . }}-controller-manager
{{- end }}

{{- define "kubelicense.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubelicense.managerName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name the existing ServiceAccount the manager runs as" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kubelicense.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
The license API Service has a fixed name: the certificate the manager generates
names it (internal/servingcert), and clients are told to call it.
*/}}
{{- define "kubelicense.licenseAPIServiceName" -}}
kubelicense-license-api
{{- end }}

{{- define "kubelicense.licenseAPICertSecret" -}}
{{ include "kubelicense.fullname" . }}-license-api-cert
{{- end }}

{{/*
The rules of a Role or ClusterRole copied from config/rbac into files/rbac by
`make manifests`, so the chart grants what the kubebuilder markers generate.
*/}}
{{- define "kubelicense.rules" -}}
{{- $path := printf "files/rbac/%s" .file }}
{{- $role := .ctx.Files.Get $path | fromYaml }}
{{- if not $role.rules }}
{{- fail (printf "%s has no rules: run `make manifests`, which copies config/rbac into the chart" $path) }}
{{- end }}
{{- toYaml $role.rules }}
{{- end }}
