{{- define "kvm-operator.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "kvm-operator.labels" -}}
app.kubernetes.io/name: kvm-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubeception
{{- end -}}
{{- define "kvm-operator.image" -}}"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"{{- end -}}
{{- define "kvm-operator.platform-args" -}}
- --platform.domains={{ .Values.platform.domains | toJson }}
- --platform.mother.pods={{ .Values.platform.mother.pods | toJson }}
- --platform.mother.services={{ .Values.platform.mother.services | toJson }}
- --platform.mother.nodes={{ .Values.platform.mother.nodes | toJson }}
- --platform.pools.flannel={{ .Values.platform.pools.flannel }}
- --platform.pools.vpc={{ .Values.platform.pools.vpc }}
- --platform.guest-endpoints={{ .Values.platform.guestEndpoints | toJson }}
{{- end -}}
