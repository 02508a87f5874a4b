{{- define "kvm-operator.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "kvm-operator.labels" -}}
app.kubernetes.io/name: kvm-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubeception
{{- end -}}
{{- define "kvm-operator.image" -}}"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"{{- end -}}
