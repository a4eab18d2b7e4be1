{{/*
Each service's environment: what the chart sets from its own values, then `<service>.env`.
The names are the services' own (each services/<name> settings file, README "Configuration").
Args of each: root, name.
*/}}

{{- define "study-tracker.env.ingest" -}}
{{- $v := .root.Values }}
{{- include "study-tracker.commonEnv" . }}
- name: TRACKER_INGEST_ADDRESS
  value: "0.0.0.0"
- name: TRACKER_INGEST_PORT
  value: {{ $v.ingest.port | int | toString | quote }}
- name: TRACKER_SHUTDOWN_GRACE
  value: {{ printf "%ds" (int $v.ingest.shutdownGraceSeconds) | quote }}
- name: SLACK_SIGNING_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $v.slack.existingSecret }}
      key: {{ $v.slack.signingSecretKey }}
{{- if $v.slack.previousSigningSecretKey }}
- name: SLACK_SIGNING_SECRET_PREVIOUS
  valueFrom:
    secretKeyRef:
      name: {{ $v.slack.existingSecret }}
      key: {{ $v.slack.previousSigningSecretKey }}
      optional: true
{{- end }}
{{- include "study-tracker.extraEnv" . }}
{{- end }}

{{- define "study-tracker.env.worker" -}}
{{- include "study-tracker.commonEnv" . }}
{{- include "study-tracker.databaseEnv" . }}
{{- include "study-tracker.consumerEnv" . }}
- name: TRACKER_WORKER_GROUP
  value: {{ .root.Values.worker.consumerGroup | quote }}
{{- include "study-tracker.extraEnv" . }}
{{- end }}

{{- define "study-tracker.env.scheduler" -}}
{{- $v := .root.Values }}
{{- include "study-tracker.commonEnv" . }}
{{- include "study-tracker.databaseEnv" . }}
{{- include "study-tracker.consumerEnv" . }}
# Recorded as claimed_by on each claim: the pod's name says which replica claimed a day.
- name: TRACKER_SCHEDULER_INSTANCE
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if $v.admin.existingSecret }}
- name: TRACKER_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $v.admin.existingSecret }}
      key: {{ $v.admin.tokenKey }}
{{- end }}
{{- include "study-tracker.extraEnv" . }}
{{- end }}

{{- define "study-tracker.env.summarizer" -}}
{{- $v := .root.Values }}
{{- include "study-tracker.commonEnv" . }}
{{- include "study-tracker.databaseEnv" . }}
{{- include "study-tracker.consumerEnv" . }}
- name: TRACKER_SUMMARIZER_GROUP
  value: {{ $v.summarizer.consumerGroup | quote }}
{{- if $v.openai.existingSecret }}
- name: OPENAI_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.openai.existingSecret }}
      key: {{ $v.openai.apiKeyKey }}
{{- end }}
{{- include "study-tracker.extraEnv" . }}
{{- end }}

{{- define "study-tracker.env.notifier" -}}
{{- $v := .root.Values }}
{{- include "study-tracker.commonEnv" . }}
{{- include "study-tracker.databaseEnv" . }}
{{- include "study-tracker.consumerEnv" . }}
- name: TRACKER_NOTIFIER_GROUP
  value: {{ $v.notifier.consumerGroup | quote }}
# The holder of each delivery's lease: the pod's name says which replica is posting it.
- name: TRACKER_NOTIFIER_INSTANCE
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if $v.app.enabled }}
# Installed workspaces post with their own tokens, sealed with these keys by the app.
{{ include "study-tracker.tokenEncryptionKeyEnv" . }}
{{- end }}
- name: SLACK_BOT_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $v.slack.existingSecret }}
      key: {{ $v.slack.botTokenKey }}
      {{- if $v.app.enabled }}
      # The fallback for a workspace that never installed the app: absent, such posts go to the DLQ.
      optional: true
      {{- end }}
{{- include "study-tracker.extraEnv" . }}
{{- end }}

{{- define "study-tracker.env.app" -}}
{{- $v := .root.Values }}
{{- include "study-tracker.commonEnv" . }}
{{- include "study-tracker.databaseEnv" . }}
{{- include "study-tracker.consumerEnv" . }}
- name: TRACKER_APP_ADDRESS
  value: "0.0.0.0"
- name: TRACKER_APP_PORT
  value: {{ $v.app.port | int | toString | quote }}
# The OAuth redirect URL is <it>/slack/oauth_redirect.
- name: TRACKER_APP_PUBLIC_URL
  value: {{ $v.app.publicUrl | quote }}
- name: TRACKER_APP_GROUP
  value: {{ $v.app.consumerGroup | quote }}
# Recorded as claimed_by of the summaries /study summary claims: the pod's name.
- name: TRACKER_APP_INSTANCE
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: SLACK_CLIENT_ID
  value: {{ $v.app.clientId | quote }}
- name: SLACK_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "study-tracker.appSecret" . }}
      key: {{ $v.app.clientSecretKey }}
{{ include "study-tracker.tokenEncryptionKeyEnv" . }}
# users.info and the App Home for a workspace that never installed the app (one-workspace mode).
- name: SLACK_BOT_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $v.slack.existingSecret }}
      key: {{ $v.slack.botTokenKey }}
      optional: true
{{- /* A person the worker has not seen yet, as the worker will see them. */}}
{{- range $key := list "TRACKER_DEFAULT_TIME_ZONE" "TRACKER_DEFAULT_SUMMARY_HOUR" }}
{{- if and (not (hasKey $v.app.env $key)) (hasKey $v.worker.env $key) }}
- name: {{ $key }}
  value: {{ include "study-tracker.envValue" (index $v.worker.env $key) }}
{{- end }}
{{- end }}
{{- include "study-tracker.extraEnv" . }}
{{- end }}
