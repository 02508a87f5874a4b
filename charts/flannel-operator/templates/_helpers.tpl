{{- define "flannel-operator.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "flannel-operator.labels" -}}
app.kubernetes.io/name: flannel-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubeception
{{- end -}}
{{- define "flannel-operator.platform-args" -}}
- --platform.domains={{ .Values.platform.domains | toJson }}
- --platform.mother.pods={{ .Values.platform.mother.pods | toJson }}
- --platform.mother.services={{ .Values.platform.mother.services | toJson }}
- --platform.mother.nodes={{ .Values.platform.mother.nodes | toJson }}
- --platform.pools.flannel={{ .Values.platform.pools.flannel }}
- --platform.pools.vpc={{ .Values.platform.pools.vpc }}
- --platform.guest-endpoints={{ .Values.platform.guestEndpoints | toJson }}
{{- end -}}
