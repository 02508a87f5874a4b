{{- define "organizations.labels" -}}
app.kubernetes.io/name: kubeception-organizations
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubeception
{{- end -}}
{{- define "organizations.subjects" -}}
{{- range .users }}
  - {kind: User, apiGroup: rbac.authorization.k8s.io, name: {{ . | quote }}}
{{- end }}
{{- range .groups }}
  - {kind: Group, apiGroup: rbac.authorization.k8s.io, name: {{ . | quote }}}
{{- end }}
{{- end -}}
