{{/* Names, labels, the image, and the checks every template relies on. */}}

{{- define "study-tracker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "study-tracker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The name of one service's objects: <fullname>-<service>. Args: root, name. */}}
{{- define "study-tracker.componentName" -}}
{{- printf "%s-%s" (include "study-tracker.fullname" .root) .name }}
{{- end }}

{{- define "study-tracker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "study-tracker.labels" -}}
helm.sh/chart: {{ include "study-tracker.chart" . }}
app.kubernetes.io/name: {{ include "study-tracker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: study-tracker
{{- end }}

{{/* Args: root, name. */}}
{{- define "study-tracker.componentLabels" -}}
{{ include "study-tracker.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/* Args: root, name. */}}
{{- define "study-tracker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "study-tracker.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "study-tracker.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The services, and the topic each consumer group reads (schemas/topics.json names). The app
(`app.enabled`) reads slack-events and slack-commands at a fixed replica count: no KEDA.
*/}}
{{- define "study-tracker.services" -}}
ingest scheduler worker summarizer notifier{{ if .Values.app.enabled }} app{{ end }}
{{- end }}

{{/* The services with an HTTP port of their own, behind a Service and ingest's Ingress. */}}
{{- define "study-tracker.httpServices" -}}
ingest{{ if .Values.app.enabled }} app{{ end }}
{{- end }}

{{- define "study-tracker.consumerTopics" -}}
worker: slack-events
summarizer: summary-requests
notifier: slack-outbox
{{- end }}

{{/*
A topic's partitions, from files/topics.json (a copy of schemas/topics.json kept current by
deploy/helm/sync-files.sh). Args: root, topic.
*/}}
{{- define "study-tracker.partitions" -}}
{{- $topics := .root.Files.Get "files/topics.json" | fromJson }}
{{- $found := 0 }}
{{- range ($topics.topics | default list) }}
{{- if eq .name $.topic }}{{ $found = int .partitions }}{{ end }}
{{- end }}
{{- if eq $found 0 }}
{{- fail (printf "topic %s is not in files/topics.json: run deploy/helm/sync-files.sh" .topic) }}
{{- end }}
{{- $found }}
{{- end }}

{{/*
Consumers beyond a topic's partitions get no partition and idle, so neither the fixed replicas
nor KEDA's maxReplicaCount of a consumer may exceed them. values.schema.json holds the same cap
(6); this names the topic and its partitions when values bypass the schema.
*/}}
{{- define "study-tracker.checkConsumerReplicas" -}}
{{- range $name, $topic := include "study-tracker.consumerTopics" . | fromYaml }}
{{- $c := index $.Values $name }}
{{- $partitions := include "study-tracker.partitions" (dict "root" $ "topic" $topic) | int }}
{{- if gt (int $c.keda.maxReplicaCount) $partitions }}
{{- fail (printf "%s.keda.maxReplicaCount is %d, but %s has %d partitions: a %s beyond %d would get no partition and idle. Set it to %d or less." $name (int $c.keda.maxReplicaCount) $topic $partitions $name $partitions $partitions) }}
{{- end }}
{{- if gt (int $c.keda.minReplicaCount) (int $c.keda.maxReplicaCount) }}
{{- fail (printf "%s.keda.minReplicaCount (%d) is above its maxReplicaCount (%d)" $name (int $c.keda.minReplicaCount) (int $c.keda.maxReplicaCount)) }}
{{- end }}
{{- if gt (int $c.replicas) $partitions }}
{{- fail (printf "%s.replicas is %d, but %s has %d partitions: set it to %d or less." $name (int $c.replicas) $topic $partitions $partitions) }}
{{- end }}
{{- end }}
{{- if .Values.app.enabled }}
{{- range $topic := list "slack-events" "slack-commands" }}
{{- $partitions := include "study-tracker.partitions" (dict "root" $ "topic" $topic) | int }}
{{- if gt (int $.Values.app.replicas) $partitions }}
{{- fail (printf "app.replicas is %d, but %s has %d partitions: an app beyond %d would get no partition of it and serve only installs. Set it to %d or less." (int $.Values.app.replicas) $topic $partitions $partitions $partitions) }}
{{- end }}
{{- end }}
{{- end }}
{{- if lt (int .Values.scheduler.replicas) 2 }}
{{- fail (printf "scheduler.replicas is %d: run two or more (claims are exactly-once in PostgreSQL, so a second replica costs nothing and keeps the schedule going through a node's loss)" (int .Values.scheduler.replicas)) }}
{{- end }}
{{- end }}

{{/* Secrets are referenced, never inlined: each service's required Secret names must be set. */}}
{{- define "study-tracker.checkSecrets" -}}
{{- if not .Values.database.existingSecret }}
{{- fail "database.existingSecret is empty: name the Secret holding DATABASE_URL (or the password)" }}
{{- end }}
{{- if and (not .Values.database.urlKey) (not .Values.database.url) }}
{{- fail "database: set urlKey (DATABASE_URL from the Secret) or url (a connection string without the password, with passwordKey)" }}
{{- end }}
{{- if and .Values.database.urlKey .Values.database.url }}
{{- fail "database: urlKey and url are both set; DATABASE_URL comes from one of them" }}
{{- end }}
{{- if not .Values.slack.existingSecret }}
{{- fail "slack.existingSecret is empty: name the Secret holding SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN" }}
{{- end }}
{{- if not .Values.kafka.brokers }}
{{- fail "kafka.brokers is empty: KAFKA_BROKERS is required (host:port[,host:port])" }}
{{- end }}
{{- if .Values.app.enabled }}
{{- if not .Values.app.publicUrl }}
{{- fail "app.enabled is true but app.publicUrl is empty: set it to the https:// address where Slack and browsers reach the app (TRACKER_APP_PUBLIC_URL, e.g. https://<ingest.ingress host>); the OAuth redirect URL is <publicUrl>/slack/oauth_redirect" }}
{{- end }}
{{- if not .Values.app.clientId }}
{{- fail "app.enabled is true but app.clientId is empty: set SLACK_CLIENT_ID (the Slack app's Basic Information; a string, quoted in a values file)" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Secret of the app's client secret and token encryption keys. Args: root. */}}
{{- define "study-tracker.appSecret" -}}
{{- .root.Values.app.existingSecret | default .root.Values.slack.existingSecret }}
{{- end }}

{{/* TRACKER_TOKEN_ENCRYPTION_KEY (app and notifier, with the app on). Args: root. */}}
{{- define "study-tracker.tokenEncryptionKeyEnv" -}}
- name: TRACKER_TOKEN_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "study-tracker.appSecret" . }}
      key: {{ .root.Values.app.tokenEncryptionKeyKey }}
{{- end }}

{{/* An env entry's value as the services parse it: integers without exponent, booleans as words. */}}
{{- define "study-tracker.envValue" -}}
{{- if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) }}
{{- int64 . | toString | quote }}
{{- else }}
{{- toString . | quote }}
{{- end }}
{{- end }}

{{/*
A service's own settings from `<service>.env` (values.schema.json lists each service's names).
Names the chart sets itself are refused: they come from their own values.
Args: root, name.
*/}}
{{- define "study-tracker.extraEnv" -}}
{{- $managed := list "KAFKA_BROKERS" "DATABASE_URL" "PGPASSWORD" "TRACKER_DB_SCHEMA" "TRACKER_OPS_ADDRESS" "TRACKER_OPS_PORT" "TRACKER_LOG_LEVEL" "TRACKER_SHUTDOWN_GRACE" "TRACKER_MIGRATE_ON_START" "SLACK_SIGNING_SECRET" "SLACK_SIGNING_SECRET_PREVIOUS" "SLACK_BOT_TOKEN" "OPENAI_API_KEY" "TRACKER_ADMIN_TOKEN" "TRACKER_INGEST_ADDRESS" "TRACKER_INGEST_PORT" "TRACKER_SCHEDULER_INSTANCE" "TRACKER_NOTIFIER_INSTANCE" "TRACKER_WORKER_GROUP" "TRACKER_SUMMARIZER_GROUP" "TRACKER_NOTIFIER_GROUP" "TRACKER_APP_ADDRESS" "TRACKER_APP_PORT" "TRACKER_APP_PUBLIC_URL" "TRACKER_APP_INSTANCE" "TRACKER_APP_GROUP" "SLACK_CLIENT_ID" "SLACK_CLIENT_SECRET" "TRACKER_TOKEN_ENCRYPTION_KEY" }}
{{- $c := index .root.Values .name }}
{{- range $key := keys $c.env | sortAlpha }}
{{- if has $key $managed }}
{{- fail (printf "%s.env.%s: the chart sets %s itself; use its own value (see values.yaml)" $.name $key $key) }}
{{- end }}
{{- if or (hasSuffix "_TOPIC" $key) (hasSuffix "_GROUP" $key) }}
{{- fail (printf "%s.env.%s: topic names come from schemas/topics.json and groups from %s.consumerGroup, so that KEDA watches what the service reads" $.name $key $.name) }}
{{- end }}
- name: {{ $key }}
  value: {{ include "study-tracker.envValue" (index $c.env $key) }}
{{- end }}
{{- end }}

{{/* KAFKA_BROKERS, the ops endpoint on the pod's address, the log level. Args: root, name. */}}
{{- define "study-tracker.commonEnv" -}}
{{- $c := index .root.Values .name }}
- name: KAFKA_BROKERS
  value: {{ .root.Values.kafka.brokers | quote }}
- name: TRACKER_OPS_ADDRESS
  value: "0.0.0.0"
- name: TRACKER_OPS_PORT
  value: {{ $c.opsPort | int | toString | quote }}
- name: TRACKER_LOG_LEVEL
  value: {{ $c.logLevel | default .root.Values.logLevel | quote }}
{{- end }}

{{/* DATABASE_URL (and PGPASSWORD), TRACKER_DB_SCHEMA. Args: root. */}}
{{- define "study-tracker.databaseEnv" -}}
{{- $db := .root.Values.database }}
{{- if $db.urlKey }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $db.existingSecret }}
      key: {{ $db.urlKey }}
{{- else }}
- name: DATABASE_URL
  value: {{ $db.url | quote }}
{{- end }}
{{- if $db.passwordKey }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $db.existingSecret }}
      key: {{ $db.passwordKey }}
{{- end }}
{{- if $db.schema }}
- name: TRACKER_DB_SCHEMA
  value: {{ $db.schema | quote }}
{{- end }}
{{- end }}

{{/* TRACKER_MIGRATE_ON_START and TRACKER_SHUTDOWN_GRACE. Args: root, name. */}}
{{- define "study-tracker.consumerEnv" -}}
{{- $c := index .root.Values .name }}
- name: TRACKER_MIGRATE_ON_START
  value: {{ .root.Values.migrations.migrateOnStart | toString | quote }}
{{- if hasKey $c "shutdownGraceSeconds" }}
- name: TRACKER_SHUTDOWN_GRACE
  value: {{ printf "%ds" (int $c.shutdownGraceSeconds) | quote }}
{{- end }}
{{- end }}

{{/* Spread over zones and nodes. Args: root, name. */}}
{{- define "study-tracker.topologySpread" -}}
{{- $t := .root.Values.topologySpread }}
{{- if $t.enabled }}
topologySpreadConstraints:
{{- range $t.topologyKeys }}
  - maxSkew: {{ $t.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: {{ $t.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "study-tracker.selectorLabels" $ | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
{{- end }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by every pod of the chart. Args: root. */}}
{{- define "study-tracker.podCommon" -}}
{{- $v := .root.Values }}
{{- if $v.serviceAccountName }}
serviceAccountName: {{ $v.serviceAccountName }}
{{- end }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
