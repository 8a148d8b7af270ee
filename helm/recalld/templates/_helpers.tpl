{{/*
Expand the name of the chart.
*/}}
{{- define "recalld.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A default fully qualified app name, truncated at 63 characters (DNS label limit). If the release
name contains the chart name it is used as the full name.
*/}}
{{- define "recalld.fullname" -}}
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

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "recalld.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "recalld.labels" -}}
helm.sh/chart: {{ include "recalld.chart" . }}
{{ include "recalld.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/component: memory-server
app.kubernetes.io/part-of: recalld
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels (immutable on a Deployment/StatefulSet: never add to them).
*/}}
{{- define "recalld.selectorLabels" -}}
app.kubernetes.io/name: {{ include "recalld.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The name of the service account to use.
*/}}
{{- define "recalld.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "recalld.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "recalld.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "recalld.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "recalld.fullname" .)) }}
{{- end }}

{{- define "recalld.headlessServiceName" -}}
{{- printf "%s-headless" (include "recalld.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/*
Pods of the workload: embedded mode always 1; external mode replicaCount (default 2).
*/}}
{{- define "recalld.replicas" -}}
{{- if eq .Values.mode "embedded" }}1{{ else }}{{ .Values.replicaCount | default 2 | int }}{{ end }}
{{- end }}

{{/*
"true" when the plaintext health-only port is on (always with TLS: kubelet gRPC probes cannot
speak TLS).
*/}}
{{- define "recalld.healthPortEnabled" -}}
{{- if or .Values.healthPort.enabled .Values.tls.enabled }}true{{ end }}
{{- end }}

{{/*
The container port the kubelet's gRPC probes call: the health-only port when it is on, else the
main gRPC port.
*/}}
{{- define "recalld.probePort" -}}
{{- if include "recalld.healthPortEnabled" . }}{{ .Values.healthPort.port }}{{ else }}{{ .Values.service.port }}{{ end }}
{{- end }}

{{/*
auth.mode as RECALLD_AUTH wants it: auto, on or off (a bare YAML on/off arrives as a boolean).
*/}}
{{- define "recalld.authMode" -}}
{{- $m := .Values.auth.mode }}
{{- if kindIs "bool" $m }}{{ ternary "on" "off" $m }}{{ else }}{{ $m }}{{ end }}
{{- end }}

{{/*
"true" unless auth.mode is off (auto is on: the chart listens on 0.0.0.0, not loopback).
*/}}
{{- define "recalld.authEnabled" -}}
{{- if ne (include "recalld.authMode" .) "off" }}true{{ end }}
{{- end }}

{{- define "recalld.bootstrapKeyDir" -}}/etc/recalld/auth/bootstrap{{- end }}

{{/*
The directory a JWT issuer's JWKS volume is mounted at; the argument is its index in auth.jwt.issuers.
*/}}
{{- define "recalld.jwksDir" -}}{{ printf "/etc/recalld/auth/jwks/%d" (int .) }}{{- end }}

{{/*
RECALLD_AUTH_JWT_ISSUERS: issuer=<JWKS file> pairs, comma-separated, in the order of auth.jwt.issuers.
*/}}
{{- define "recalld.jwtIssuers" -}}
{{- $pairs := list }}
{{- range $i, $iss := .Values.auth.jwt.issuers }}
{{- $pairs = append $pairs (printf "%s=%s/%s" $iss.issuer (include "recalld.jwksDir" $i) ($iss.key | default "jwks.json")) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/*
A map of tenant -> number as RECALLD_TENANT_* wants it: tenant=value pairs, comma-separated, sorted.
*/}}
{{- define "recalld.tenantTable" -}}
{{- $pairs := list }}
{{- range $tenant, $value := . }}
{{- $pairs = append $pairs (printf "%s=%s" $tenant (include "recalld.envString" $value)) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/*
Render-time checks the schema cannot express, each with what to do instead.
*/}}
{{- define "recalld.validate" -}}
{{- if eq .Values.mode "embedded" }}
{{- if gt (int (.Values.replicaCount | default 1)) 1 }}
{{- fail (printf "mode=embedded runs exactly one pod (SQLite and Milvus Lite in one data directory cannot be shared by two processes): replicaCount=%v is not allowed; unset it, or use mode=external to run several replicas" .Values.replicaCount) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "mode=embedded runs exactly one pod (SQLite and Milvus Lite in one data directory cannot be shared by two processes): autoscaling.enabled=true is not allowed; use mode=external to autoscale" }}
{{- end }}
{{- else if eq .Values.mode "external" }}
{{- if not .Values.external.graph.uri }}
{{- fail (printf "mode=external needs external.graph.uri (the %s server, e.g. neo4j://neo4j:7687 or falkor://falkordb:6379)" .Values.external.graph.backend) }}
{{- end }}
{{- if not .Values.external.vector.uri }}
{{- fail "mode=external needs external.vector.uri (the Milvus server, e.g. http://milvus:19530): Milvus Lite cannot be shared by several pods" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- else }}
{{- fail (printf "mode must be embedded or external, not %q" .Values.mode) }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) }}
{{- fail "tls.enabled needs tls.existingSecret: the name of a Secret with the certificate (tls.certKey), the key (tls.keyKey) and, for tls.mutual, the client CA (tls.caKey)" }}
{{- end }}
{{- if le (float64 .Values.terminationGracePeriodSeconds) (float64 .Values.gracePeriodSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed gracePeriodSeconds (%v): the kubelet kills the container before in-flight calls finish" .Values.terminationGracePeriodSeconds .Values.gracePeriodSeconds) }}
{{- end }}
{{- if not (has (include "recalld.authMode" .) (list "auto" "on" "off")) }}
{{- fail (printf "auth.mode must be auto, on or off, not %v" .Values.auth.mode) }}
{{- end }}
{{- if and (not (include "recalld.authEnabled" .)) (ne .Values.service.type "ClusterIP") }}
{{- fail (printf "auth.mode=off with service.type=%s: without authentication every caller is an admin of the default tenant, so the chart will not expose it outside the cluster; use service.type=ClusterIP (and kubectl port-forward), or leave auth.mode at auto/on" .Values.service.type) }}
{{- end }}
{{- $issuers := list }}
{{- range $i, $iss := .Values.auth.jwt.issuers }}
{{- if not $iss.issuer }}
{{- fail (printf "auth.jwt.issuers[%d] needs issuer (the tokens' \"iss\")" $i) }}
{{- end }}
{{- if eq (len (compact (list ($iss.configMap | default "") ($iss.secret | default "")))) 1 | not }}
{{- fail (printf "auth.jwt.issuers[%d] (%s): set exactly one of configMap or secret (holding the issuer's JWKS file)" $i $iss.issuer) }}
{{- end }}
{{- if has $iss.issuer $issuers }}
{{- fail (printf "auth.jwt.issuers: issuer %s is listed twice" $iss.issuer) }}
{{- end }}
{{- $issuers = append $issuers $iss.issuer }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) }}
{{- fail "podDisruptionBudget: set either minAvailable or maxUnavailable (the other to null), not both" }}
{{- end }}
{{- end }}

{{/*
A value as an environment string: whole numbers without an exponent (YAML numbers arrive as
float64, which would print 1000000 as 1e+06).
*/}}
{{- define "recalld.envString" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) }}{{ int64 . }}{{ else }}{{ toString . }}{{ end }}
{{- end }}

{{/*
The plain (non-secret) RECALLD_* variables as YAML: the ConfigMap's data. The chart's own values
first; `config` adds any other setting but may not override these nor carry a secret.
*/}}
{{- define "recalld.configData" -}}
{{- $v := .Values }}
{{- $d := dict
  "RECALLD_LISTEN" (printf "0.0.0.0:%v" $v.service.port)
  "RECALLD_DATA_DIR" "/var/lib/recalld"
  "RECALLD_LOG_FORMAT" $v.logging.format
  "RECALLD_LOG_LEVEL" $v.logging.level
  "RECALLD_GRACE_PERIOD_S" (include "recalld.envString" $v.gracePeriodSeconds)
  "RECALLD_TRACING" (ternary "otlp" "off" $v.tracing.enabled)
}}
{{- if $v.metrics.enabled }}
{{- $_ := set $d "RECALLD_METRICS_LISTEN" (printf "0.0.0.0:%v" $v.metrics.port) }}
{{- end }}
{{- if include "recalld.healthPortEnabled" . }}
{{- $_ := set $d "RECALLD_HEALTH_LISTEN" (printf "0.0.0.0:%v" $v.healthPort.port) }}
{{- end }}
{{- if and $v.tracing.enabled $v.tracing.otlpEndpoint }}
{{- $_ := set $d "RECALLD_OTLP_ENDPOINT" $v.tracing.otlpEndpoint }}
{{- end }}
{{- if eq $v.mode "external" }}
{{- $_ := set $d "RECALLD_GRAPH_BACKEND" $v.external.graph.backend }}
{{- $_ := set $d "RECALLD_GRAPH_URI" $v.external.graph.uri }}
{{- with $v.external.graph.user }}{{ $_ := set $d "RECALLD_GRAPH_USER" . }}{{ end }}
{{- with $v.external.graph.database }}{{ $_ := set $d "RECALLD_GRAPH_DATABASE" . }}{{ end }}
{{- $_ := set $d "RECALLD_VECTOR_URI" $v.external.vector.uri }}
{{- else }}
{{- $_ := set $d "RECALLD_GRAPH_BACKEND" "embedded" }}
{{- end }}
{{- if $v.tls.enabled }}
{{- $_ := set $d "RECALLD_TLS_CERT_FILE" (printf "%s/%s" $v.tls.mountPath $v.tls.certKey) }}
{{- $_ := set $d "RECALLD_TLS_KEY_FILE" (printf "%s/%s" $v.tls.mountPath $v.tls.keyKey) }}
{{- if $v.tls.mutual }}
{{- $_ := set $d "RECALLD_TLS_CLIENT_CA_FILE" (printf "%s/%s" $v.tls.mountPath $v.tls.caKey) }}
{{- end }}
{{- end }}
{{- $_ := set $d "RECALLD_AUTH" (include "recalld.authMode" .) }}
{{- if include "recalld.authEnabled" . }}
{{- if $v.auth.bootstrapKey.existingSecret }}
{{- $_ := set $d "RECALLD_AUTH_BOOTSTRAP_KEY_FILE" (printf "%s/%s" (include "recalld.bootstrapKeyDir" .) $v.auth.bootstrapKey.key) }}
{{- end }}
{{- if $v.auth.jwt.issuers }}
{{- $_ := set $d "RECALLD_AUTH_JWT_ISSUERS" (include "recalld.jwtIssuers" .) }}
{{- $_ := set $d "RECALLD_AUTH_JWT_LEEWAY_S" (include "recalld.envString" $v.auth.jwt.leewaySeconds) }}
{{- with $v.auth.jwt.audience }}{{ $_ := set $d "RECALLD_AUTH_JWT_AUDIENCE" . }}{{ end }}
{{- end }}
{{- if not (kindIs "invalid" $v.auth.keyCacheSeconds) }}
{{- $_ := set $d "RECALLD_AUTH_KEY_CACHE_S" (include "recalld.envString" $v.auth.keyCacheSeconds) }}
{{- end }}
{{- end }}
{{- $_ := set $d "RECALLD_AUDIT_LOG" $v.auth.audit.log }}
{{- if gt (float64 $v.tenants.rate) 0.0 }}
{{- $_ := set $d "RECALLD_TENANT_RATE" (include "recalld.envString" $v.tenants.rate) }}
{{- end }}
{{- if gt (float64 $v.tenants.burst) 0.0 }}
{{- $_ := set $d "RECALLD_TENANT_BURST" (include "recalld.envString" $v.tenants.burst) }}
{{- end }}
{{- with $v.tenants.rates }}{{ $_ := set $d "RECALLD_TENANT_RATES" (include "recalld.tenantTable" .) }}{{ end }}
{{- with $v.tenants.maxMemoriesPerUser }}{{ $_ := set $d "RECALLD_TENANT_MAX_MEMORIES_PER_USER" (include "recalld.tenantTable" .) }}{{ end }}
{{- if gt (int64 $v.limits.maxMemoriesPerUser) 0 }}
{{- $_ := set $d "RECALLD_LIMITS_MAX_MEMORIES_PER_USER" (include "recalld.envString" $v.limits.maxMemoriesPerUser) }}
{{- end }}
{{- $managed := list "RECALLD_LISTEN" "RECALLD_DATA_DIR" "RECALLD_LOG_FORMAT" "RECALLD_LOG_LEVEL" "RECALLD_GRACE_PERIOD_S" "RECALLD_TRACING" "RECALLD_OTLP_ENDPOINT" "RECALLD_METRICS_LISTEN" "RECALLD_HEALTH_LISTEN" "RECALLD_GRAPH_BACKEND" "RECALLD_GRAPH_URI" "RECALLD_GRAPH_USER" "RECALLD_GRAPH_DATABASE" "RECALLD_VECTOR_URI" "RECALLD_TLS_CERT_FILE" "RECALLD_TLS_KEY_FILE" "RECALLD_TLS_CLIENT_CA_FILE" "RECALLD_AUTH" "RECALLD_AUTH_BOOTSTRAP_KEY_FILE" "RECALLD_AUTH_JWT_ISSUERS" "RECALLD_AUTH_JWT_AUDIENCE" "RECALLD_AUTH_JWT_LEEWAY_S" "RECALLD_AUTH_KEY_CACHE_S" "RECALLD_AUDIT_LOG" "RECALLD_TENANT_RATE" "RECALLD_TENANT_BURST" "RECALLD_TENANT_RATES" "RECALLD_TENANT_MAX_MEMORIES_PER_USER" "RECALLD_LIMITS_MAX_MEMORIES_PER_USER" }}
{{- $secret := list "RECALLD_GRAPH_PASSWORD" "RECALLD_VECTOR_TOKEN" "RECALLD_LLM_API_KEY" "RECALLD_EMBEDDING_API_KEY" }}
{{- range $k, $val := $v.config }}
{{- if has $k $secret }}
{{- fail (printf "config.%s is a secret: set it under secrets (or in secrets.existingSecret), not in the ConfigMap" $k) }}
{{- end }}
{{- if has $k $managed }}
{{- fail (printf "config.%s is set by the chart from its own values (service.port, metrics, healthPort, logging, gracePeriodSeconds, tracing, external, tls, auth, tenants, limits): set those instead" $k) }}
{{- end }}
{{- $_ := set $d $k (include "recalld.envString" $val) }}
{{- end }}
{{- toYaml $d }}
{{- end }}

{{/*
The secret variables: a list of [variable, key in the Secret, value, optional]. With
secrets.existingSecret every named key is read (graph password required, the rest optional);
otherwise only the values that are set, from the chart-created Secret.
*/}}
{{- define "recalld.secretEntries" -}}
{{- $s := .Values.secrets }}
{{- $all := list }}
{{- if eq .Values.mode "external" }}
{{- $all = append $all (list "RECALLD_GRAPH_PASSWORD" $s.keys.graphPassword $s.graphPassword false) }}
{{- $all = append $all (list "RECALLD_VECTOR_TOKEN" $s.keys.vectorToken $s.vectorToken true) }}
{{- end }}
{{- $all = append $all (list "RECALLD_LLM_API_KEY" $s.keys.llmApiKey $s.llmApiKey true) }}
{{- $all = append $all (list "RECALLD_EMBEDDING_API_KEY" $s.keys.embeddingApiKey $s.embeddingApiKey true) }}
{{- $out := list }}
{{- range $all }}
{{- $var := index . 0 }}{{ $key := index . 1 }}{{ $value := index . 2 }}
{{- if $s.existingSecret }}
{{- if $key }}{{ $out = append $out . }}{{ end }}
{{- else if $value }}
{{- if not $key }}
{{- fail (printf "%s has a value in secrets but no key name in secrets.keys" $var) }}
{{- end }}
{{- $out = append $out . }}
{{- end }}
{{- end }}
{{- toYaml (dict "entries" $out) }}
{{- end }}

{{/*
The pod template shared by the StatefulSet (embedded) and the Deployment (external).
*/}}
{{- define "recalld.podTemplate" -}}
{{- $probePort := include "recalld.probePort" . | int -}}
metadata:
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "recalld.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  serviceAccountName: {{ include "recalld.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
  # no FOO_SERVICE_HOST variables: a Service named recalld would inject RECALLD_* ones
  enableServiceLinks: false
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: recalld
      image: {{ include "recalld.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: grpc
          containerPort: {{ .Values.service.port }}
          protocol: TCP
        {{- if .Values.metrics.enabled }}
        - name: metrics
          containerPort: {{ .Values.metrics.port }}
          protocol: TCP
        {{- end }}
        {{- if include "recalld.healthPortEnabled" . }}
        - name: health
          containerPort: {{ .Values.healthPort.port }}
          protocol: TCP
        {{- end }}
      envFrom:
        - configMapRef:
            name: {{ include "recalld.fullname" . }}
        {{- with .Values.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- $secretEntries := (include "recalld.secretEntries" . | fromYaml).entries }}
      {{- if or $secretEntries .Values.extraEnv }}
      env:
        {{- range $secretEntries }}
        - name: {{ index . 0 }}
          valueFrom:
            secretKeyRef:
              name: {{ include "recalld.secretName" $ }}
              key: {{ index . 1 | quote }}
              {{- if and $.Values.secrets.existingSecret (index . 3) }}
              optional: true
              {{- end }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      {{- if .Values.startupProbe.enabled }}
      startupProbe:
        grpc:
          port: {{ $probePort }}
          service: liveness
        {{- toYaml (omit .Values.startupProbe "enabled") | nindent 8 }}
      {{- end }}
      {{- if .Values.livenessProbe.enabled }}
      livenessProbe:
        grpc:
          port: {{ $probePort }}
          service: liveness
        {{- toYaml (omit .Values.livenessProbe "enabled") | nindent 8 }}
      {{- end }}
      {{- if .Values.readinessProbe.enabled }}
      readinessProbe:
        grpc:
          port: {{ $probePort }}
          service: readiness
        {{- toYaml (omit .Values.readinessProbe "enabled") | nindent 8 }}
      {{- end }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: data
          mountPath: /var/lib/recalld
        - name: tmp
          mountPath: /tmp
        {{- if .Values.tls.enabled }}
        # a directory mount (no subPath): the kubelet updates rotated certificates in place
        - name: tls
          mountPath: {{ .Values.tls.mountPath }}
          readOnly: true
        {{- end }}
        {{- if include "recalld.authEnabled" . }}
        {{- if .Values.auth.bootstrapKey.existingSecret }}
        # directory mounts (no subPath): a restarted container sees a rotated key, JWKS files update in place
        - name: auth-bootstrap
          mountPath: {{ include "recalld.bootstrapKeyDir" . }}
          readOnly: true
        {{- end }}
        {{- range $i, $iss := .Values.auth.jwt.issuers }}
        - name: {{ printf "jwks-%d" $i }}
          mountPath: {{ include "recalld.jwksDir" $i }}
          readOnly: true
        {{- end }}
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir: {}
    {{- if or (eq .Values.mode "external") (not .Values.persistence.enabled) }}
    - name: data
      emptyDir: {}
    {{- end }}
    {{- if .Values.tls.enabled }}
    - name: tls
      secret:
        secretName: {{ .Values.tls.existingSecret }}
        defaultMode: 0440
    {{- end }}
    {{- if include "recalld.authEnabled" . }}
    {{- if .Values.auth.bootstrapKey.existingSecret }}
    - name: auth-bootstrap
      secret:
        secretName: {{ .Values.auth.bootstrapKey.existingSecret }}
        defaultMode: 0440
    {{- end }}
    {{- range $i, $iss := .Values.auth.jwt.issuers }}
    - name: {{ printf "jwks-%d" $i }}
      {{- if $iss.secret }}
      secret:
        secretName: {{ $iss.secret }}
        defaultMode: 0440
      {{- else }}
      configMap:
        name: {{ $iss.configMap }}
        defaultMode: 0440
      {{- end }}
    {{- end }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml .Values.topologySpreadConstraints | nindent 4 }}
  {{- else if eq .Values.mode "external" }}
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "recalld.selectorLabels" . | nindent 10 }}
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "recalld.selectorLabels" . | nindent 10 }}
  {{- end }}
{{- end }}
