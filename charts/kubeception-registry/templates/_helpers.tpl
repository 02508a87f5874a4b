{{- define "registry.labels" -}}
app.kubernetes.io/name: kubeception-registry
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubeception
{{- end -}}
{{- define "registry.config" -}}
version: 0.1
log:
  fields: {service: registry}
storage:
  cache: {blobdescriptor: inmemory}
  filesystem: {rootdirectory: /var/lib/registry}
  {{- if .readOnly }}
  maintenance:
    readonly: {enabled: true}
    uploadpurging: {enabled: false}
  {{- else }}
  delete: {enabled: true}
  {{- end }}
http:
  addr: {{ .addr }}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver: {enabled: true, interval: 10s, threshold: 3}
{{- end -}}
