{{/*
Shared names, labels and pod pieces of every Flotilla component (watcher, workers, webhook).
*/}}

{{- define "flotilla.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flotilla.fullname" -}}
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

{{/* Name of a component's objects: (dict "root" $ "component" "watcher"). */}}
{{- define "flotilla.componentName" -}}
{{- printf "%s-%s" (include "flotilla.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flotilla.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flotilla.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of a component's objects: (dict "root" $ "component" "watcher"). */}}
{{- define "flotilla.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "flotilla.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: flotilla
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "flotilla.image" -}}
{{- $image := .Values.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/*
Deep merge of two maps where the second wins, even with false, 0 or "" (sprig's
mergeOverwrite skips those). Lists are replaced whole. Returns YAML: use with fromYaml.
*/}}
{{- define "flotilla.merge" -}}
{{- $out := deepCopy (index . 0) }}
{{- range $key, $value := (index . 1) }}
{{- if and (kindIs "map" $value) (kindIs "map" (index $out $key)) }}
{{- $_ := set $out $key (include "flotilla.merge" (list (index $out $key) $value) | fromYaml) }}
{{- else }}
{{- $_ := set $out $key $value }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* The effective settings of one worker type: (dict "root" $ "type" "cloneset"). */}}
{{- define "flotilla.workerConfig" -}}
{{- include "flotilla.merge" (list .root.Values.workerDefaults (index .root.Values.workers .type)) }}
{{- end }}

{{/* Enabled worker types, sorted, comma-separated (what the watcher watches for). */}}
{{- define "flotilla.enabledWorkerTypes" -}}
{{- $types := list }}
{{- range $type, $worker := .Values.workers }}
{{- if $worker.enabled }}
{{- $types = append $types $type }}
{{- end }}
{{- end }}
{{- $types | sortAlpha | join "," }}
{{- end }}

{{- define "flotilla.natsUrl" -}}
{{- if .Values.natsServer.enabled }}
{{- printf "nats://%s-nats.%s.svc:4222" .Release.Name .Release.Namespace }}
{{- else }}
{{- required "nats.url is required: the URL of an existing NATS server with JetStream, or set natsServer.enabled=true" .Values.nats.url }}
{{- end }}
{{- end }}

{{/* Replicas of streams and buckets: busReplicas, or 3 with a 3-server bundled NATS, else 1. */}}
{{- define "flotilla.busReplicas" -}}
{{- if .Values.busReplicas }}{{ .Values.busReplicas }}
{{- else if and .Values.natsServer.enabled (ge (int .Values.natsServer.replicas) 3) }}3
{{- else }}1
{{- end }}
{{- end }}

{{/* The Secret holding the bundled NATS server's users and passwords (templates/nats-auth.yaml). */}}
{{- define "flotilla.natsAuthSecret" -}}
{{- printf "%s-nats-auth" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Environment every component shares: (dict "root" $ "service" "flotilla-watcher" "natsUser" "flotilla-watcher");
natsUser signs in to the bundled NATS server (empty: the component does not use NATS). */}}
{{- define "flotilla.commonEnv" -}}
{{- $values := .root.Values -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: FLOTILLA_BUS_REPLICAS
  value: {{ include "flotilla.busReplicas" .root | quote }}
- name: FLOTILLA_HTTP_PORT
  value: {{ default $values.httpPort .port | quote }}
- name: FLOTILLA_LOG_LEVEL
  value: {{ $values.logLevel | quote }}
- name: NATS_URL
  value: {{ include "flotilla.natsUrl" .root | quote }}
{{- if and $values.natsServer.enabled $values.natsServer.auth.enabled .natsUser }}
- name: NATS_USER
  value: {{ .natsUser | quote }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "flotilla.natsAuthSecret" .root }}
      key: {{ printf "password-%s" .natsUser | quote }}
{{- else if $values.nats.credentialsSecret.name }}
- name: NATS_CREDS
  value: {{ printf "/etc/flotilla/nats/%s" $values.nats.credentialsSecret.key | quote }}
{{- end }}
{{- if $values.nats.tls.enabled }}
- name: NATS_CA
  value: /etc/flotilla/nats-tls/ca.crt
{{- if $values.nats.tls.clientCertificate }}
- name: NATS_CERT
  value: /etc/flotilla/nats-tls/tls.crt
- name: NATS_KEY
  value: /etc/flotilla/nats-tls/tls.key
{{- end }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
{{- $attributes := list "service.namespace=flotilla" "k8s.namespace.name=$(POD_NAMESPACE)" "k8s.pod.name=$(POD_NAME)" }}
{{- range $key, $value := $values.tracing.resourceAttributes }}
{{- $attributes = append $attributes (printf "%s=%s" $key (toString $value)) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attributes | quote }}
- name: OTEL_METRICS_EXPORTER
  value: none
- name: OTEL_LOGS_EXPORTER
  value: none
{{- if $values.tracing.enabled }}
- name: OTEL_SDK_DISABLED
  value: "false"
- name: OTEL_TRACES_EXPORTER
  value: otlp
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ required "tracing.endpoint is required when tracing.enabled" $values.tracing.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $values.tracing.protocol | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $values.tracing.sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $values.tracing.samplerArg | quote }}
{{- else }}
- name: OTEL_SDK_DISABLED
  value: "true"
- name: OTEL_TRACES_EXPORTER
  value: none
{{- end }}
{{- with $values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes every component mounts: a writable /tmp and the NATS credentials. */}}
{{- define "flotilla.commonVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.nats.credentialsSecret.name }}
- name: nats-credentials
  secret:
    secretName: {{ .Values.nats.credentialsSecret.name }}
    defaultMode: 0440
    items:
      - key: {{ .Values.nats.credentialsSecret.key }}
        path: {{ .Values.nats.credentialsSecret.key }}
{{- end }}
{{- if .Values.nats.tls.enabled }}
- name: nats-tls
  secret:
    secretName: {{ required "nats.tls.secretName is required when nats.tls.enabled: a Secret with ca.crt (and tls.crt, tls.key)" .Values.nats.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "flotilla.commonVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.nats.credentialsSecret.name }}
- name: nats-credentials
  mountPath: /etc/flotilla/nats
  readOnly: true
{{- end }}
{{- if .Values.nats.tls.enabled }}
- name: nats-tls
  mountPath: /etc/flotilla/nats-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* The HTTP port and probes every component serves (/metrics, /healthz, /readyz). */}}
{{- define "flotilla.httpPortAndProbes" -}}
ports:
  - name: http
    containerPort: {{ default .Values.httpPort .componentPort }}
    protocol: TCP
  {{- if and .Values.webhook.enabled (eq (default "" .webhookPort) "yes") }}
  - name: webhook
    containerPort: {{ .Values.webhook.port }}
    protocol: TCP
  {{- end }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 3
{{- end }}

{{/* Pod-level settings shared by all components: (dict "root" $ "config" $componentValues). */}}
{{- define "flotilla.podScheduling" -}}
{{- $values := .root.Values }}
{{- if and .hostNetwork $values.hostNetwork }}
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
{{- end }}
{{- with $values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml $values.podSecurityContext | nindent 2 }}
{{- with (default $values.nodeSelector .config.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $values.tolerations .config.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $values.affinity .config.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .config.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "flotilla.podMetadata" -}}
{{- with .root.Values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
labels:
  {{- include "flotilla.labels" . | nindent 2 }}
  {{- with .root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* KEDA's NATS monitoring endpoint for a worker type's ScaledObject. */}}
{{- define "flotilla.natsMonitoringEndpoint" -}}
{{- if .config.keda.monitoringEndpoint }}
{{- .config.keda.monitoringEndpoint }}
{{- else if .root.Values.natsServer.enabled }}
{{- printf "%s-nats.%s.svc:8222" .root.Release.Name .root.Release.Namespace }}
{{- else }}
{{- fail (printf "workers.%s.keda.monitoringEndpoint is required (host:port of the NATS monitoring endpoint, e.g. nats.nats-system.svc:8222) unless natsServer.enabled" .type) }}
{{- end }}
{{- end }}

{{/*
RBAC rules narrowed to one scope: (dict "rules" $rules "cluster" true) keeps only the
cluster-scoped resources (nodes, ...), "cluster" false only the namespaced ones. Used by the
namespace-scoped install (watchNamespaces): namespaced rules become a Role in each watched
namespace, cluster-scoped ones stay in a ClusterRole.
*/}}
{{- define "flotilla.rulesOfScope" -}}
{{- $clusterScoped := list "nodes" "namespaces" "persistentvolumes" "storageclasses" "customresourcedefinitions" "sidecarsets" "nodeimages" "nodepodprobes" "resourcedistributions" }}
{{- $cluster := .cluster }}
{{- $out := list }}
{{- range $rule := .rules }}
{{- $picked := list }}
{{- range $resource := $rule.resources }}
{{- if eq (has (splitList "/" $resource | first) $clusterScoped) $cluster }}
{{- $picked = append $picked $resource }}
{{- end }}
{{- end }}
{{- if $picked }}
{{- $out = append $out (merge (dict "resources" $picked) (omit $rule "resources")) }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* The watcher's leader-election Lease. */}}
{{- define "flotilla.leaseName" -}}
{{- default (include "flotilla.componentName" (dict "root" . "component" "watcher")) .Values.watcher.leaderElection.leaseName }}
{{- end }}

{{/* clientConfig and shared settings of one webhook registration (caBundle: set by the webhook or cert-manager). */}}
{{- define "flotilla.webhookClient" -}}
clientConfig:
  service:
    name: {{ .name }}
    namespace: {{ .namespace }}
    path: {{ .path }}
    port: 443
admissionReviewVersions: ["v1"]
sideEffects: None
failurePolicy: {{ .failurePolicy }}
timeoutSeconds: {{ .webhook.timeoutSeconds }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- toYaml (concat (list .namespace "kube-system") .webhook.excludedNamespaces) | nindent 8 }}
{{- end }}
