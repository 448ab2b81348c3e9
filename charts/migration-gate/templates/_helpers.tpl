{{/* Names, labels and the small computed values every template shares. */}}

{{- define "migration-gate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "migration-gate.fullname" -}}
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

{{- define "migration-gate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "migration-gate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "migration-gate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "migration-gate.labels" -}}
helm.sh/chart: {{ include "migration-gate.chart" . }}
{{ include "migration-gate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: migration-gate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "migration-gate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "migration-gate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "migration-gate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the admission listener's certificate (tls.crt, tls.key, ca.crt). */}}
{{- define "migration-gate.tlsSecretName" -}}
{{- if and (not .Values.certManager.enabled) .Values.tls.existingSecret -}}
{{- .Values.tls.existingSecret -}}
{{- else -}}
{{- printf "%s-tls" (include "migration-gate.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "migration-gate.trustSecretName" -}}
{{- default (printf "%s-trusted-keys" (include "migration-gate.fullname" .)) .Values.trustedKeysExistingSecret -}}
{{- end -}}

{{- define "migration-gate.policyConfigMapName" -}}
{{- default (printf "%s-policy" (include "migration-gate.fullname" .)) .Values.policy.existingConfigMap -}}
{{- end -}}

{{- define "migration-gate.tokenSecretName" -}}
{{- default (printf "%s-operator-tokens" (include "migration-gate.fullname" .)) .Values.operatorTokens.existingSecret -}}
{{- end -}}

{{/* The policy bundle text: the values override, else the packaged default. */}}
{{- define "migration-gate.policyBundle" -}}
{{- if .Values.policy.bundle -}}
{{- .Values.policy.bundle -}}
{{- else -}}
{{- .Files.Get "files/policy.yaml" -}}
{{- end -}}
{{- end -}}

{{/* The token file: one role:sha256hex:name[:envs] line per token (never a token in clear). */}}
{{- define "migration-gate.tokenFile" -}}
# role:sha256hex-of-token:name[:envs] (tokens are never stored in clear)
{{ range .Values.operatorTokens.tokens -}}
{{ .role }}:{{ .sha256 }}:{{ .name }}{{ with .envs }}:{{ join "," . }}{{ end }}
{{ end -}}
{{- end -}}

{{/* DNS names the apiserver may use for the Service (it sends SNI <svc>.<ns>.svc). */}}
{{- define "migration-gate.dnsNames" -}}
{{- $svc := include "migration-gate.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) | toJson -}}
{{- end -}}

{{/* matchConditions need admissionregistration v1 matchConditions (GA in Kubernetes 1.30). */}}
{{- define "migration-gate.matchConditionsSupported" -}}
{{- if semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version -}}true{{- end -}}
{{- end -}}

{{/* Excluded namespaces, and (with the staging entry) the env label this entry selects. */}}
{{- define "migration-gate.namespaceSelector" -}}
{{- $ := .ctx -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- range (concat $.Values.webhook.excludeNamespaces (list $.Release.Namespace) | uniq) }}
        - {{ . | quote }}
        {{- end }}
    {{- with .selectEnv }}
    - key: {{ .key | quote }}
      operator: {{ .operator }}
      values: [{{ range .values }}{{ . | quote }}{{ end }}]
    {{- end }}
{{- end -}}
