{{- define "ingress-operator.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "ingress-operator.labels" -}}
app.kubernetes.io/name: ingress-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubeception
{{- end -}}
{{- define "ingress-operator.image" -}}"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"{{- end -}}
