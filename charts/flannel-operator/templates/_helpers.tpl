{{- define "flannel-operator.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "flannel-operator.labels" -}}
app.kubernetes.io/name: flannel-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubeception
{{- end -}}
