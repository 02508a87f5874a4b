{{- define "console.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "console.labels" -}}
app.kubernetes.io/name: kubeception-console
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubeception
{{- end -}}
