{{- define "aws-operator.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "aws-operator.labels" -}}
app.kubernetes.io/name: aws-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubeception
{{- end -}}
{{- define "aws-operator.image" -}}"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"{{- end -}}
